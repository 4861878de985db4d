"""What the official SailPoint Python SDK (2.x) makes of a real tenant's task details and of
a search export, through a base URL.

Usage: drive_details.py BASE_URL TOKEN
Starts an ACCOUNTS report (the simulator is set to answer with `launched`, WARN messages and
a WARNING end) and a SEARCH_EXPORT, and prints one JSON object with what the SDK parsed.
"""
import json
import os
import sys
import tempfile
import time
import zipfile

from sailpoint.configuration import Configuration, ConfigurationParams
from sailpoint.reports_data_extraction.api.reports_data_extraction_api import ReportsDataExtractionApi
from sailpoint.reports_data_extraction.api_client import ApiClient
from sailpoint.reports_data_extraction.models.report_details import ReportDetails
from sailpoint.reports_data_extraction.models.report_details_arguments import ReportDetailsArguments
from sailpoint.reports_data_extraction.models.searchexportreportarguments import Searchexportreportarguments

params = ConfigurationParams()
params.base_url, params.access_token = sys.argv[1], sys.argv[2]
api = ReportsDataExtractionApi(ApiClient(Configuration(params)))
out = {}

task = api.start_report_v1(ReportDetails.from_dict({
    "reportType": "ACCOUNTS",
    "arguments": {"application": "2c9180835d2e5168015d32f890ca1581", "sourceName": "AD"},
}))
out["launched_is_created"] = task.launched is not None and task.launched == task.created
out["messages"] = [[str(m.type.value if hasattr(m.type, "value") else m.type), m.warning, m.localized_text]
                   for m in task.messages or []]
out["progress"] = task.progress
for _ in range(40):  # bounded
    res = api.get_report_result_v1(task.id)
    if res.status is not None:
        break
    time.sleep(0.25)
out["result_status"] = str(res.status.value if hasattr(res.status, "value") else res.status)

# Built from the typed arguments: ReportDetails.from_dict would send {"correlatedOnly": false}
# (its anyOf takes the first schema that validates).
export = api.start_report_v1(ReportDetails(
    report_type="SEARCH_EXPORT",
    arguments=ReportDetailsArguments(Searchexportreportarguments(query="*", indices=["identities"])),
))
for _ in range(40):
    if api.get_report_result_v1(export.id).status is not None:
        break
    time.sleep(0.25)
os.chdir(tempfile.mkdtemp())
path = api.get_report_v1(export.id, "csv")
out["export_file"] = os.path.basename(path)
with zipfile.ZipFile(path) as z:
    out["export_entries"] = z.namelist()

print("SDK-RESULT " + json.dumps(out))
