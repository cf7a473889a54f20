"""Plausible Chinese place names, drawn reproducibly from a seeded random generator."""

from __future__ import annotations

import random

SURNAMES = (
    "李王张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔"
)
GOOD = (
    "安平兴和宁丰盛福康泰阳河湖山东西南北新华中光明德信义仁礼乐春秋锦绣滨海渤黄清源泉林园花城景瑞祥"
)
VILLAGE_FORMS = (
    "{s}家庄",
    "{s}家",
    "{s}集",
    "{s}家桥",
    "{s}官屯",
    "后{s}",
    "前{s}",
    "大{s}",
    "小{s}",
    "{s}家坊",
    "{s}家洼",
    "{s}王庄",
    "{s}店",
    "{s}楼",
)
COMMUNITY_SUFFIXES = ("社区",)
SCHOOLS = ("实验学校", "第一中学", "第二中学", "实验小学", "职业学院", "外国语学校")
HOSPITALS = ("人民医院", "中医院", "妇幼保健院", "第二人民医院")
PARKS = ("中海公园", "黄河湿地公园", "植物园", "奥体公园")
ENTERPRISES = ("经济开发区", "化工产业园", "高新技术产业园", "物流园", "纺织工业园")
NUMERALS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 23 → 二十三 (up to 99)."""
    if n < 10:
        return NUMERALS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else NUMERALS[tens]) + "十" + (NUMERALS[ones] if ones else "")


class NameMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[tuple[str, str]] = set()

    def _unique(self, make, scope: str = "") -> str:
        """A fresh name within `scope` (real village names repeat across townships)."""
        for _ in range(500):
            name = make()
            if (scope, name) not in self.used:
                self.used.add((scope, name))
                return name
        raise RuntimeError("ran out of names")

    def two_chars(self) -> str:
        return self.rng.choice(GOOD) + self.rng.choice(GOOD)

    def township(self, kind: str) -> str:
        suffix = {"street": "街道", "town": "镇", "township": "乡"}[kind]
        return self._unique(lambda: self.two_chars() + suffix)

    def community(self, scope: str) -> str:
        return self._unique(lambda: self.two_chars() + self.rng.choice(COMMUNITY_SUFFIXES), scope)

    def village(self, scope: str) -> str:
        def make() -> str:
            if self.rng.random() < 0.3:
                return self.rng.choice(SURNAMES) + self.rng.choice(GOOD) + "村"
            form = self.rng.choice(VILLAGE_FORMS)
            return form.format(s=self.rng.choice(SURNAMES)) + "村"

        return self._unique(make, scope)

    def dedicated(self, kind: str, place: str) -> str:
        pool = {"school": SCHOOLS, "hospital": HOSPITALS, "park": PARKS, "enterprise": ENTERPRISES}
        return self._unique(lambda: place + self.rng.choice(pool[kind]) + "专属网格", place)
