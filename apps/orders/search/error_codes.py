from enum import StrEnum


class SearchErrorCode(StrEnum):
    INVALID_CURSOR = "invalid_cursor"
    INVALID_SORT = "invalid_sort"
    INVALID_SIZE = "invalid_size"
    SEARCH_UNAVAILABLE = "search_unavailable"
    INDEX_NOT_READY = "search_index_not_ready"
