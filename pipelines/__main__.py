"""`python -m pipelines` = `fraud-app`: the entry spark-submit runs from a packed environment.

    spark-submit --archives env.tar.gz#environment \\
        --conf spark.pyspark.python=./environment/bin/python \\
        $(python -c 'import pipelines, os; print(os.path.dirname(pipelines.__file__))')/__main__.py \\
        -c prod.yaml run

(docs/DEPLOY.md explains each setting.)
"""

import sys

from pipelines.cli import entry

if __name__ == "__main__":
    sys.exit(entry())
