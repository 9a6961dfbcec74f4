"""A simulator of the Tmall, JD, Douyin and WeChat shop APIs (see ``server``)."""
