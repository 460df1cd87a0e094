"""A person's conversations out and in: export (JSON, Markdown, zip) and import
(our JSON, ChatGPT's data export), every file in one transaction."""
