from datetime import UTC, datetime


def is_storable(moment: datetime) -> bool:
    """Whether an aware ``moment`` can be compared with a stored time: the database keeps
    UTC, and near year 1 or 9999 the conversion to UTC leaves the calendar."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True
