"""Drives the official SailPoint Python SDK's report methods against whatever SAIL_BASE_URL is.

Usage: SAIL_BASE_URL=... SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... drive_sdk.py [MODULE]
Configured the SDK's usual way only: `Configuration()` reads the three variables and fetches
its own token from SAIL_BASE_URL/oauth/token. MODULE picks SDK 1.x's API version module
(v3, the default, v2024 or v2025); SDK 2.x has one (/reports/v1). Prints one JSON object
with what the SDK saw.
"""
import importlib
import json
import os
import sys
import tempfile
import time

from sailpoint.configuration import Configuration

config = Configuration()
if config.access_token is None:
    print("SDK-RESULT " + json.dumps({"token": None}))
    sys.exit(0)

try:  # SDK 2.x
    from sailpoint.reports_data_extraction.api.reports_data_extraction_api import ReportsDataExtractionApi
    from sailpoint.reports_data_extraction.api_client import ApiClient
    from sailpoint.reports_data_extraction.exceptions import ApiException
    from sailpoint.reports_data_extraction.models.report_details import ReportDetails
    api = ReportsDataExtractionApi(ApiClient(config))
    start, result, download, cancel = api.start_report_v1, api.get_report_result_v1, api.get_report_v1, api.cancel_report_v1
    download_info = api.get_report_v1_with_http_info
    major, module = 2, "reports_data_extraction"
except ImportError:  # SDK 1.x: sailpoint.v3, sailpoint.v2024, sailpoint.v2025
    module = sys.argv[1] if len(sys.argv) > 1 else "v3"
    pkg = f"sailpoint.{module}"
    ReportsDataExtractionApi = importlib.import_module(f"{pkg}.api.reports_data_extraction_api").ReportsDataExtractionApi
    ApiClient = importlib.import_module(f"{pkg}.api_client").ApiClient
    ApiException = importlib.import_module(f"{pkg}.exceptions").ApiException
    ReportDetails = importlib.import_module(f"{pkg}.models.report_details").ReportDetails
    api = ReportsDataExtractionApi(ApiClient(config))
    start, result, download, cancel = api.start_report, api.get_report_result, api.get_report, api.cancel_report
    download_info = api.get_report_with_http_info
    major = 1

out = {"sdk_major": major, "module": module, "token": "fetched"}

# Every report type, built as the SDK documents it (`ReportDetails.from_json`), with the
# arguments its documentation shows. What the SDK sends is recorded with the answer.
documented = {
    "ACCOUNTS": {"application": "2c9180835d2e5168015d32f890ca1581", "sourceName": "Active Directory"},
    "IDENTITIES_DETAILS": {},
    "IDENTITIES": {"correlatedOnly": True},
    "IDENTITY_PROFILE_IDENTITY_ERROR": {"authoritativeSource": "1234sourceId5678902"},
    "ORPHAN_IDENTITIES": {"selectedFormats": ["CSV"]},
    "SEARCH_EXPORT": {"indices": ["identities"], "query": "name:a*", "columns": "displayName", "sort": ["displayName"]},
    "UNCORRELATED_ACCOUNTS": {"selectedFormats": ["CSV"]},
}
out["types"] = {}
for report_type, arguments in documented.items():
    details = ReportDetails.from_json(json.dumps({"reportType": report_type, "arguments": arguments}))
    seen = {"sent": json.loads(details.to_json())["arguments"]}
    try:
        task = start(details)
        seen["status"] = 200
        seen["report_type"] = str(task.report_type)
    except ApiException as e:
        seen["status"] = e.status
        seen["text"] = json.loads(e.body)["messages"][0]["text"]
    out["types"][report_type] = seen

details = ReportDetails.from_json(json.dumps({"reportType": "ACCOUNTS", "arguments": documented["ACCOUNTS"]}))
task = start(details)
out["run_id"] = task.id
out["run_report_type"] = str(task.report_type)

for _ in range(80):  # bounded: the sandbox's reports take a few seconds
    res = result(task.id)
    if res.status is not None:
        break
    time.sleep(0.25)
out["result_status"] = str(res.status)
out["result_rows"] = res.rows
out["result_formats"] = [str(f) for f in (res.available_formats or [])]

workdir = tempfile.mkdtemp()
os.chdir(workdir)
path = download(task.id, "csv")
out["download_path_name"] = os.path.basename(path)
with open(path, "rb") as fh:
    out["download_lines"] = len(fh.read().decode().splitlines())
info = download_info(task.id, "csv")
out["download_status"] = info.status_code
out["download_bytes"] = len(info.raw_data)

out["cancel_result"] = repr(cancel(task.id))

try:
    start(ReportDetails.from_dict({"reportType": "ACCOUNTS", "arguments": {"application": "x"}}))
    out["invalid_run_status"] = None
except ApiException as e:
    out["invalid_run_status"] = e.status
    out["invalid_run_body"] = json.loads(e.body)

try:
    result("0123456789abcdef0123456789abcdef")
    out["unknown_result_status"] = None
except ApiException as e:
    out["unknown_result_status"] = e.status

print("SDK-RESULT " + json.dumps(out))
