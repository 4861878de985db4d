"""Drives the four report methods of the official SailPoint Python SDK against a base URL.

Usage: drive_sdk.py BASE_URL TOKEN
Prints one JSON object with what the SDK saw. Works with SDK 2.x (/reports/v1/...) and
1.x (/v3/reports/...): the caller changes only the base URL and the token.
"""
import json
import os
import sys
import tempfile
import time

from sailpoint.configuration import Configuration, ConfigurationParams

base_url, token = sys.argv[1], sys.argv[2]
params = ConfigurationParams()
params.base_url = base_url
params.access_token = token
config = Configuration(params)

try:  # SDK 2.x
    from sailpoint.reports_data_extraction.api.reports_data_extraction_api import ReportsDataExtractionApi
    from sailpoint.reports_data_extraction.api_client import ApiClient
    from sailpoint.reports_data_extraction.exceptions import ApiException
    from sailpoint.reports_data_extraction.models.report_details import ReportDetails
    api = ReportsDataExtractionApi(ApiClient(config))
    start, result, download, cancel = api.start_report_v1, api.get_report_result_v1, api.get_report_v1, api.cancel_report_v1
    download_info = api.get_report_v1_with_http_info
    major = 2
except ImportError:  # SDK 1.x
    from sailpoint.v3.api.reports_data_extraction_api import ReportsDataExtractionApi
    from sailpoint.v3.api_client import ApiClient
    from sailpoint.v3.exceptions import ApiException
    from sailpoint.v3.models.report_details import ReportDetails
    api = ReportsDataExtractionApi(ApiClient(config))
    start, result, download, cancel = api.start_report, api.get_report_result, api.get_report, api.cancel_report
    download_info = api.get_report_with_http_info
    major = 1

out = {"sdk_major": major}
details = ReportDetails.from_dict({
    "reportType": "ACCOUNTS",
    "arguments": {"application": "2c9180835d2e5168015d32f890ca1581", "sourceName": "Active Directory"},
})
task = start(details)
out["run_id"] = task.id
out["run_report_type"] = str(task.report_type)

for _ in range(40):  # bounded: the sandbox's reports take a few seconds
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
