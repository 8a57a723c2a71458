"""The benchmark against Radicale 3.9's own filesystem storage (not installed)."""
