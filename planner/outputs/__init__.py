"""What a person looks at: the gap map and its base maps, the tables, report.html with its static maps,
report.xlsx, and ``planner compare``. The only stage that writes run outputs to disk.
"""
