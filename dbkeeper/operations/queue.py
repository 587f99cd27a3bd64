"""The task queue: SqliteHuey in the data directory by default, RedisHuey when
a Redis URL is configured (several workers on several hosts)."""

from huey import MemoryHuey, RedisHuey, SqliteHuey

from .. import conf


def build_huey():
    if conf.get("QUEUE_IMMEDIATE"):
        return MemoryHuey("dbkeeper", immediate=True)
    redis_url = conf.get("REDIS_URL")
    if redis_url:
        return RedisHuey("dbkeeper", url=redis_url)
    return SqliteHuey("dbkeeper", filename=str(conf.data_dir() / "queue.sqlite3"))


huey = build_huey()
