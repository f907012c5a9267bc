"""One APIRouter per resource: tokens, me, orders, uploads, posts."""
