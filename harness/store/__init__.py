"""What runs leave behind: results.json and its reader, the results store, merge and compare."""
