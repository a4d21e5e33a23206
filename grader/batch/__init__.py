"""Grading a class: `python -m grader batch`, `stats` and `gradebook` (docs/grading-a-class.md).

One concept per module: `archives` (student entries, safe unpacking, content hashes), `records`
(what is on disk per student, atomic writes, history), `runner` (grading children, resume,
cleanup), `display` (live progress), `gradebook` and `lms` (CSV files), `stats` and `stats_page`
(the class report), `shards` (sharding and merging), `child` (one grading child), `cli` (thin).
"""
