"""PostgreSQL access: the pool, migrations, the embedded cluster, repositories.

All SQL of pellacia-dist lives in this package.
"""
