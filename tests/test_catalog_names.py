"""Issue 18: each entry added for the legacy areas, WWII Europe, fuzes and remnants is found first by the
names people write, in every script, searched against the whole real catalog (not a subset)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ordnance_db.catalog import load_catalog
from ordnance_db.db import build_database
from ordnance_db.search import Query, Searcher
from ordnance_db.settings import CATALOG_DIR, IMAGES_DIR


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searcher]:
    path: Path = tmp_path_factory.mktemp("names") / "catalog.sqlite"
    engine: Engine = create_engine(f"sqlite:///{path}")
    build_database(load_catalog(CATALOG_DIR, IMAGES_DIR), engine)
    yield Searcher(engine)
    engine.dispose()


FIRST = [
    ("хвостовик Града", "9m22u-grad-motor-section"),
    ("хвостова частина ракети Град", "9m22u-grad-motor-section"),
    ("محرك صاروخ غراد", "9m22u-grad-motor-section"),
    ("Grad tail section", "9m22u-grad-motor-section"),
    ("Grad", "9m22u-grad"),
    ("Panzerfaust", "panzerfaust"),
    ("Фаустпатрон", "panzerfaust"),
    ("pancerfaust", "panzerfaust"),
    ("Panzerfaust-Kopf", "panzerfaust"),
    ("Tellermine 43", "teller-mine-43"),
    ("T.Mi.42", "teller-mine-43"),
    ("Теллермина 43", "teller-mine-43"),
    ("Tellermine 35", "teller-mine-35"),
    ("đạn M79", "m406-40mm"),
    ("M406", "m406-40mm"),
    ("40mm grenade", "m406-40mm"),
    ("KB-1", "kb-1"),
    ("КБ-1", "kb-1"),
    ("kasetna bomba KB-1", "kb-1"),
    ("PMR-2A", "pmr-2a"),
    ("ПМР-2А", "pmr-2a"),
    ("kukuruz", "pmr-2a"),
    ("BLU-61", "blu-61"),
    ("BLU61", "blu-61"),
    ("ລະເບີດບອມບີ BLU-61", "blu-61"),
    ("хвостовик Урагана", "9m27k-uragan-remnants"),
    ("залишки ракети Ураган", "9m27k-uragan-remnants"),
    ("9M27K cargo section", "9m27k-uragan-remnants"),
    ("9M27K", "9m27k-uragan"),
    ("уламки ракети Іскандер-М", "iskander-m-remnants"),
    ("обломки Искандера", "iskander-m-remnants"),
    ("حطام صاروخ إسكندر", "iskander-m-remnants"),
    ("Iskander tail", "iskander-m-remnants"),
    ("підривник", "artillery-nose-fuze-soviet"),
    ("взрыватель от снаряда", "artillery-nose-fuze-soviet"),
    ("صاعق قذيفة", "artillery-nose-fuze-soviet"),
    ("artillery fuze", "artillery-nose-fuze-soviet"),
    ("spoletta M46", "m48-pd-fuze"),
    ("M48 fuze", "m48-pd-fuze"),
    ("I.Gr.33", "15cm-igr-33"),
    ("15 cm Infanteriegranate 33", "15cm-igr-33"),
    ("15-сантиметровый немецкий снаряд", "15cm-igr-33"),
    ("Eihandgranate 39", "eihandgranate"),
    ("Eierhandgranate", "eihandgranate"),
    ("granat jajowy", "eihandgranate"),
    ("122-мм снаряд", "122mm-howitzer-shell"),
    ("122-мм артилерійський снаряд", "122mm-howitzer-shell"),
    ("قذيفة مدفعية عيار 122 ملم", "122mm-howitzer-shell"),
    ("122 mm artillery shell", "122mm-howitzer-shell"),
    ("снаряд Д-30", "122mm-howitzer-shell"),
    ("MON-100", "mon-100"),
    ("МОН-100", "mon-100"),
    ("MON100", "mon-100"),
    ("MON-90", "mon-90"),
    ("МОН-90", "mon-90"),
    ("30-мм снаряд", "30mm-cannon-rounds"),
    ("снаряд БМП-2", "30mm-cannon-rounds"),
    ("قذيفة مدفع رشاش عيار 30 ملم", "30mm-cannon-rounds"),
    ("2A42 round", "30mm-cannon-rounds"),
    ("3B30", "3b30"),
    ("3Б30", "3b30"),
    ("КОБЭ 3Б30", "3b30"),
    ("RPG-22", "rpg-22"),
    ("РПГ-22", "rpg-22"),
    ("Нетто", "rpg-22"),
    ("آر بي جي-22", "rpg-22"),
    ("125-мм танковий снаряд", "125mm-tank-round"),
    ("танковый снаряд", "125mm-tank-round"),
    ("قذيفة دبابة عيار 125 ملم", "125mm-tank-round"),
    ("3OF26", "125mm-tank-round"),
    ("РГН", "rgn-rgo-grenades"),
    ("граната РГО", "rgn-rgo-grenades"),
    ("RGO grenade", "rgn-rgo-grenades"),
    ("FAB-1500", "fab-1500-m54"),
    ("ФАБ-1500", "fab-1500-m54"),
    ("فاب-1500", "fab-1500-m54"),
    ("ФАБ-1500 з УМПК", "fab-1500-m54"),
    ("Claymore", "m18a1-claymore"),
    ("Клеймор", "m18a1-claymore"),
    ("M18A1", "m18a1-claymore"),
    ("لغم كلايمور", "m18a1-claymore"),
    ("105mm shell", "105mm-m1-shell"),
    ("đạn pháo 105 ly", "105mm-m1-shell"),
    ("Mk 81", "mk-81"),
    ("MK-250", "mk-81"),
    ("ລະເບີດ 250 ປອນ", "mk-81"),
    ("трехдюймовка", "76mm-divisional-gun-shell"),
    ("76-мм снаряд", "76mm-divisional-gun-shell"),
    ("BL755", "bl755"),
    ("BL-755", "bl755"),
    ("بي إل 755", "bl755"),
    ("M6A2", "m6a2-at-mine"),
    ("міна M6A2", "m6a2-at-mine"),
    ("M864", "m864-155mm-dpicm"),
    ("касетний снаряд M864", "m864-155mm-dpicm"),
    ("Kornet", "kornet-atgm"),
    ("Корнет", "kornet-atgm"),
    ("صاروخ كورنيت", "kornet-atgm"),
    ("Lancet", "lancet-loitering-munition"),
    ("Ланцет", "lancet-loitering-munition"),
    ("مسيّرة لانسيت", "lancet-loitering-munition"),
    ("NLAW", "nlaw"),
    ("MBT LAW", "nlaw"),
    ("Javelin", "javelin"),
    ("Джавелін", "javelin"),
    ("جافلين", "javelin"),
    ("Type 69", "type-69-mine"),
    ("69式跳雷", "type-69-mine"),
    ("ФАБ-100", "fab-50-100-wwii"),
    ("FAB-50", "fab-50-100-wwii"),
    ("B40", "b40-rocket-grenade"),
    ("đạn B40", "b40-rocket-grenade"),
    ("គ្រាប់ B40", "b40-rocket-grenade"),
    ("Gr.38 HL", "german-75mm-heat-shell"),
    ("кумулятивний снаряд 75 мм", "german-75mm-heat-shell"),
    ("50-мм мінометна міна", "50mm-mortar-bomb-wwii"),
    ("50mm mortar bomb", "50mm-mortar-bomb-wwii"),
    ("Wurfgranate 34", "german-8cm-mortar-bomb"),
    ("немецкая мина 81 мм", "german-8cm-mortar-bomb"),
    ("SD 50", "sd-50-sc-50"),
    ("SC 50", "sd-50-sc-50"),
    ("граната Рдултовского", "rdultovsky-grenade"),
    ("Stinger", "stinger-manpads"),
    ("Стінгер", "stinger-manpads"),
    ("Х-101", "kh-101-cruise-missile"),
    ("уламки ракети Х-101", "kh-101-cruise-missile"),
    ("ракета 9М38", "buk-9m38-remnants"),
    ("Buk missile", "buk-9m38-remnants"),
    ("M21 mine", "m21-at-mine"),
    ("міна M21", "m21-at-mine"),
    ("Hydra 70", "ffar-2-75-rocket"),
    ("2.75 inch rocket", "ffar-2-75-rocket"),
    ("сорокапятка", "45mm-gun-shell-wwii"),
    ("45-мм снаряд", "45mm-gun-shell-wwii"),
]


@pytest.mark.parametrize(("text", "entry_id"), FIRST, ids=[t for t, _ in FIRST])
def test_name_finds_the_entry_first(searcher: Searcher, text: str, entry_id: str) -> None:
    hits = [h.id for h in searcher.search(Query(text=text)).hits]
    assert hits and hits[0] == entry_id, hits[:5]
