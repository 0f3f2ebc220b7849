"""Operations: health checks and metrics, wired by the composition root (parley.app) and
served on both ports (docs/deploy.md)."""
