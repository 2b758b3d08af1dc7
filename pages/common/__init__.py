"""What the pages share: session state, the connection panel, errors, streaming."""
