-- Parley schema v12 (PostgreSQL): nothing to change. The SQLite migration of the same
-- number moves full-text indexing to once per write batch; here the search column is a
-- generated tsvector under a GIN index, whose pending list already takes rows in bulk.
SELECT 1;
