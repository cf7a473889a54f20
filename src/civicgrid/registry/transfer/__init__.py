"""Moving registry records in and out as spreadsheets: the file layout of each record type
(columns.py), reading CSV and Excel files as a stream (reading.py), the per-type import rules
(plans.py), bulk writing (bulk.py) and the templates and export writers (sheets.py).

The entry points are registry/importing.py and registry/exporting.py.
"""
