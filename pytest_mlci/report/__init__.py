"""Reports: terminal table, JSON, Markdown for PR comments, HTML, and static-check formats."""
