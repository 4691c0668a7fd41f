"""Getting fraud-app onto a cluster: a starter project and a packed Python environment.

Owns: `init_project` (a config + an editable copy of the shipped feature specs) and
`pack_environment` (the running virtualenv, with fraud-app itself, as one archive that
Spark ships to executors with `spark.archives`). Spark settings for such an archive live
in fraud_app.spark.session (`archive_settings`).
"""

from fraud_app.deploy.packenv import pack_environment
from fraud_app.deploy.starter import init_project

__all__ = ["init_project", "pack_environment"]
