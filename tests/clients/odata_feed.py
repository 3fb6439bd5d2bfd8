"""An OData v4 client nobody on the project wrote (python-odata) against a running crisisgraph: it
reads $metadata, builds its entity classes from it, and pages through the feed by @odata.nextLink.

Checks, with figures computed here from the raw sample files:
- every Haiti admin-2 IDP figure, paged 25 rows at a time (`Prefer: odata.maxpagesize=25`), comes
  exactly once, with each (area, operation, round, date, assessment type) total and their sum equal to
  the DTM payload's (sample/dtm/v3/displacement-admin2-admin0pcode-hti.json);
- Mali's national population (both sexes, all ages) equals the COD file's (sample/cod/mli_pop_adm0_v2.csv),
  through the client's own $filter;
- the model has the navigation properties of $metadata (a figure's AdminArea and Country, an area's
  Country and Parent), and the client's own $expand of Mali's round-68 regions gives each the area and
  country the DTM payload names (sample/dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json)
  with the p-code file's names (sample/cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv).

Usage: python odata_feed.py http://127.0.0.1:PORT path/to/sample
Exits non-zero on the first failed check.
"""

import contextlib
import csv
import io
import json
import sys
import urllib.request
from collections import Counter, defaultdict

import requests
from odata import ODataService
from odata.navproperty import NavigationProperty

PAGE = 25


def check(condition, message):
    if not condition:
        print(f"FAIL {message}")
        sys.exit(1)


def haiti_admin2_from_payload(sample):
    with open(f"{sample}/dtm/v3/displacement-admin2-admin0pcode-hti.json", encoding="utf-8") as f:
        rows = json.load(f)["result"]
    totals = defaultdict(int)
    for r in rows:
        key = (r["admin2Pcode"].strip(), r["operation"].strip(), r["roundNumber"],
               r["reportingDate"][:10], r["assessmentType"].strip())
        totals[key] += r["numPresentIdpInd"]
    return totals


def mali_population_from_cod(sample):
    with open(f"{sample}/cod/mli_pop_adm0_v2.csv", encoding="utf-8-sig") as f:
        rows = [r for r in csv.DictReader(f) if not r.get("ADM0_PCODE", "").startswith("#")]
    check(len(rows) == 1, f"the COD admin-0 file has one row, not {len(rows)}")
    return int(float(rows[0]["T_TL"]))


def mali_regions_from_payload(sample):
    with open(f"{sample}/dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json", encoding="utf-8") as f:
        return json.load(f)["result"]


def area_names_from_pcode_file(sample):
    with open(f"{sample}/cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv", encoding="utf-8-sig") as f:
        return {r["P-Code"]: r["Name"] for r in csv.DictReader(f) if not r["P-Code"].startswith("#")}


def main(base, sample):
    session = requests.Session()
    # Small pages, so that the walk takes many next links.
    session.headers["Prefer"] = f"odata.maxpagesize={PAGE}"
    # (The client prints blank lines while it reflects the model; keep the report readable.)
    with contextlib.redirect_stdout(io.StringIO()):
        service = ODataService(f"{base}/odata/", reflect_entities=True, session=session)
    Idps = service.entities["Idps"]
    Population = service.entities["Population"]

    # The page walk, as the client does it (it follows @odata.nextLink until there is none).
    expected = haiti_admin2_from_payload(sample)
    query = service.query(Idps).filter((Idps.country_iso3 == "HTI") & (Idps.admin_level == 2))
    seen = Counter()
    got = {}
    for row in query:
        key = (row.source_pcode, row.operation, row.round_number, str(row.reporting_date)[:10],
               row.assessment_type)
        seen[key] += 1
        got[key] = row.idps
    duplicates = [k for k, n in seen.items() if n > 1]
    check(not duplicates, f"rows came more than once: {duplicates[:3]}")
    check(len(got) == len(expected), f"{len(got)} Haiti admin-2 rows, the payload has {len(expected)}")
    check(got == dict(expected), "every Haiti admin-2 total equals the payload's")
    check(sum(got.values()) == sum(expected.values()),
          f"sum {sum(got.values())} equals the payload's {sum(expected.values())}")

    # The walk did take many pages: count the next links by hand on the raw feed.
    url = f"{base}/odata/Idps?$filter=country_iso3%20eq%20'HTI'%20and%20admin_level%20eq%202&$select=idps"
    pages, rows = 0, 0
    while url:
        request = urllib.request.Request(url, headers={"Prefer": f"odata.maxpagesize={PAGE}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            check(response.headers.get("OData-Version") == "4.0", "OData-Version: 4.0")
            check(response.headers.get("Preference-Applied") == f"odata.maxpagesize={PAGE}", "Preference-Applied")
            page = json.load(response)
        check(len(page["value"]) <= PAGE, "no page is larger than asked")
        pages += 1
        rows += len(page["value"])
        url = page.get("@odata.nextLink")
    check(rows == len(expected), f"the raw walk gives {rows} rows, not {len(expected)}")
    check(pages >= len(expected) // PAGE, f"{pages} pages of at most {PAGE}")

    # Mali's population total through the client's $filter.
    total = mali_population_from_cod(sample)
    national = list(service.query(Population).filter(
        (Population.country_iso3 == "MLI") & (Population.admin_level == 0)
        & (Population.sex == "all") & (Population.age_range == "all")))
    check(len(national) == 1, f"one national total for Mali, not {len(national)}")
    check(national[0].population == total, f"Mali population {national[0].population} equals the COD's {total}")

    # Navigation properties, as the client's model has them from $metadata, and its own $expand.
    AdminAreas, Countries = service.entities["AdminAreas"], service.entities["Countries"]
    for entity, name, target in [(Idps, "AdminArea", AdminAreas), (Idps, "Country", Countries),
                                 (AdminAreas, "Country", Countries), (AdminAreas, "Parent", AdminAreas)]:
        # The client puts navigation properties on the entity type, which the entity set's class inherits.
        nav = getattr(entity, name, None)
        check(isinstance(nav, NavigationProperty), f"{entity.__name__}.{name} is a navigation property")
        same = issubclass(target, nav.entitycls) or issubclass(nav.entitycls, target)
        check(same and not nav.is_collection, f"{entity.__name__}.{name} leads to one {target.__name__}")
    regions = mali_regions_from_payload(sample)
    names = area_names_from_pcode_file(sample)
    # The client builds the $expand request from its model; the answer is read as JSON here, because
    # python-odata 0.8.1 cannot build an expanded AdminArea object: it formats the Edm.Date key
    # (valid_from) of the expanded entity with `.isoformat()` on the string it parsed (a client bug).
    query = service.query(Idps).filter(
        (Idps.country_iso3 == "MLI") & (Idps.admin_level == 1) & (Idps.round_number == 68)
    ).expand(Idps.AdminArea, Idps.Country)
    answer = requests.get(query.as_string(), timeout=60)
    check(answer.status_code == 200, f"the client's $expand request answers 200, not {answer.status_code}")
    expanded = answer.json()["value"]
    check(len(expanded) == len(regions), f"{len(expanded)} Mali regions in round 68, the payload has {len(regions)}")
    by_pcode = {row["source_pcode"]: row for row in expanded}
    for r in regions:
        row = by_pcode.get(r["admin1Pcode"])
        check(row is not None, f"{r['admin1Pcode']} is in the feed")
        area, country = row.get("AdminArea"), row.get("Country")
        check(area is not None and area["pcode"] == r["admin1Pcode"], f"{r['admin1Pcode']}: its AdminArea")
        check(area["name"] == names[r["admin1Pcode"]], f"{area['name']} is the p-code file's {names[r['admin1Pcode']]}")
        check(country is not None and (country["iso3"], country["name"]) == (r["admin0Pcode"], r["admin0Name"]),
              f"{r['admin1Pcode']}: its Country")

    print(f"odata: {len(got)} Haiti admin-2 rows in {pages} pages, sum {sum(got.values())}; Mali {total}; "
          f"{len(expanded)} Mali regions expanded to their areas and country")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2])
