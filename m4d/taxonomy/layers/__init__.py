"""Built-in taxonomy layers (JSON Schema documents), merged in file-name order."""
