"""Reports of an outcome: JSON, HTML, the terminal summary, the verdict table, and the merge of shard reports."""
