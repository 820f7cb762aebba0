"""Names, places, phone ranges and the calendar of the synthetic operator.

The operator is a China Mobile city branch in Nanjing. Everything here is plain data
(GBK-encodable Chinese text, number ranges, holidays) so the generator reads like the
operator's own world, and so tests can check the ranges against ``phonenumbers``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

OPERATOR = "China Mobile"
COMPETITORS = ("China Unicom", "China Telecom")
"""Carrier names exactly as ``phonenumbers.carrier.name_for_number(n, "en")`` gives them."""

OUR_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "152", "157",
                "158", "159", "182", "183", "184", "187", "188")
UNICOM_PREFIXES = ("130", "131", "132", "155", "156", "185", "186")
TELECOM_PREFIXES = ("133", "153", "180", "181", "189")

# (name, E.164 digits, kind, share of subscribers who call it, share of calls it places)
HUBS: tuple[tuple[str, int, str, float, float], ...] = (
    ("南京交通广播路况热线", 862584701061, "traffic_radio", 0.0, 0.0),
    ("工商银行客服", 864006695588, "hotline", 0.12, 0.05),
    ("招商银行客服", 864008205555, "hotline", 0.08, 0.05),
    ("顺丰速运", 864008111111, "delivery", 0.25, 0.85),
    ("京东物流", 864006561888, "delivery", 0.22, 0.85),
    ("美团外卖客服", 864008507777, "hotline", 0.15, 0.10),
    ("滴滴出行客服", 864000000999, "hotline", 0.10, 0.10),
    ("南京市民热线12345转接", 862512345000, "hotline", 0.05, 0.05),
    ("中国移动政企客服", 864001008686, "hotline", 0.20, 0.15),
    ("鼓楼医院预约挂号", 862583106666, "hotline", 0.06, 0.05),
)
TRAFFIC_RADIO = 0
"""Index of the traffic radio hotline in ``HUBS`` (the tag example in the marketing issue)."""

# (district, id-number region code, sales-region weight, coverage problem multiplier)
DISTRICTS: tuple[tuple[str, str, float, float], ...] = (
    ("玄武区", "320102", 0.09, 0.8),
    ("秦淮区", "320104", 0.10, 0.9),
    ("建邺区", "320105", 0.08, 0.8),
    ("鼓楼区", "320106", 0.13, 0.8),
    ("浦口区", "320111", 0.07, 1.3),
    ("栖霞区", "320113", 0.09, 1.1),
    ("雨花台区", "320114", 0.06, 1.0),
    ("江宁区", "320115", 0.18, 1.0),
    ("六合区", "320116", 0.08, 1.8),
    ("溧水区", "320117", 0.06, 1.6),
    ("高淳区", "320118", 0.06, 2.0),
)
OUTSIDE_REGION_CODES = ("340102", "341202", "410105", "320382", "321102", "370102", "420102")
"""Birthplaces of people who moved to Nanjing (Anhui, Henan, Xuzhou, Zhenjiang, ...)."""

STREETS = ("中山路", "北京东路", "汉中路", "江东中路", "龙蟠路", "中央路", "湖南路", "珠江路",
           "广州路", "上海路", "应天大街", "集庆路", "雨花路", "宁海路", "玄武大道", "仙林大道",
           "文澜路", "双龙大道", "天元路", "胜太路", "浦珠路", "龙华路", "雄州路", "金阳路",
           "淳溪路", "弘阳大道", "江北大道", "清凉门大街", "月安街", "虎踞路")
ESTATES = ("金陵小区", "紫金花园", "翠屏城", "百家湖花园", "银城东苑", "仙林新村", "梅花山庄",
           "阳光广场", "锦绣花园", "南湖新村", "莫愁新寓", "龙江小区", "明发城市广场", "天润城",
           "万科金域蓝湾", "保利香槟国际", "朗诗熙园", "苏宁睿城", "恒大绿洲", "御水湾")

SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱",
            "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯",
            "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜",
            "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭",
            "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "方", "白", "邹", "孟", "熊",
            "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史", "陶", "黎", "贺", "顾",
            "毛", "郝", "龚", "邵", "万", "钱", "严", "武", "戴", "莫", "孔", "汤", "欧阳", "诸葛")
MALE_CHARS = ("伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏",
              "华", "飞", "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙",
              "林", "阳", "建", "国", "志", "文", "博", "子", "轩", "然", "晨", "昊", "天", "泽")
FEMALE_CHARS = ("芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "燕", "玲", "桂", "丹", "萍",
                "红", "雪", "琳", "婷", "慧", "莹", "晶", "颖", "倩", "洁", "佳", "梅", "兰", "琴",
                "云", "欣", "怡", "悦", "涵", "萱", "雨", "诗", "梦", "瑶", "思", "晓", "月", "彤")
COMPANY_WORDS = ("华宁", "金陵", "紫金", "秦淮", "江宁", "鼎盛", "恒通", "瑞丰", "博远", "中科",
                 "天润", "新锐", "宏图", "鑫源", "聚力", "苏宁", "扬子", "石城", "钟山", "长江")
COMPANY_TRADES = ("科技", "物流", "建设工程", "贸易", "餐饮管理", "医疗器械", "软件", "电子",
                  "教育咨询", "房地产开发", "汽车服务", "文化传媒", "环保工程", "信息技术")
GROUP_NAMES = ("南京市第{n}中学", "南京市{d}人民医院", "南京市{d}机关事务管理局",
               "江苏{w}集团", "南京{w}大学后勤集团", "南京市{d}城市管理局")

SPRING_FESTIVAL = {2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
                   2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
                   2030: date(2030, 2, 3)}


def holidays(year: int) -> set[date]:
    """Public holidays (approximate official arrangement): travel and family days."""
    days: set[date] = {date(year, 1, 1)}
    festival = SPRING_FESTIVAL.get(year)
    if festival is not None:
        days |= {festival + timedelta(days=k) for k in range(-2, 7)}
    days |= {date(year, 4, 4), date(year, 4, 5), date(year, 4, 6)}
    days |= {date(year, 5, d) for d in range(1, 6)}
    days |= {date(year, 10, d) for d in range(1, 8)}
    return days


def festival_eves(year: int) -> set[date]:
    """Days when greeting SMS flood the network (New Year's Eve of both calendars)."""
    eves = {date(year, 12, 31)}
    festival = SPRING_FESTIVAL.get(year)
    if festival is not None:
        eves |= {festival - timedelta(days=1), festival}
    return eves


def day_types(days: list[date]) -> np.ndarray:
    """0 workday, 1 weekend, 2 public holiday, for each day."""
    out = np.zeros(len(days), dtype=np.int8)
    cache: dict[int, set[date]] = {}
    for i, day in enumerate(days):
        if day.year not in cache:
            cache[day.year] = holidays(day.year)
        if day in cache[day.year]:
            out[i] = 2
        elif day.weekday() >= 5:
            out[i] = 1
    return out


def _pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(words, dtype=object)[rng.integers(0, len(words), n)]


def person_names(rng: np.random.Generator, surnames: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Given names of one or two characters after the surname index given."""
    n = len(surnames)
    first = np.where(male, _pick(rng, MALE_CHARS, n), _pick(rng, FEMALE_CHARS, n))
    second = np.where(male, _pick(rng, MALE_CHARS, n), _pick(rng, FEMALE_CHARS, n))
    two = rng.random(n) < 0.7
    given = np.where(two, first + second, first)
    return np.asarray(SURNAMES, dtype=object)[surnames] + given


def addresses(rng: np.random.Generator, district: np.ndarray) -> np.ndarray:
    """Residential addresses in the customer's district."""
    n = len(district)
    names = np.asarray([d[0] for d in DISTRICTS], dtype=object)[district]
    street = _pick(rng, STREETS, n)
    estate = _pick(rng, ESTATES, n)
    number = rng.integers(1, 400, n).astype(str).astype(object)
    building = rng.integers(1, 40, n).astype(str).astype(object)
    unit = rng.integers(1, 5, n).astype(str).astype(object)
    room = (rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n)).astype(str).astype(object)
    return ("江苏省南京市" + names + street + number + "号" + estate + building + "栋" + unit
            + "单元" + room + "室")


def office_addresses(rng: np.random.Generator, district: np.ndarray) -> np.ndarray:
    n = len(district)
    names = np.asarray([d[0] for d in DISTRICTS], dtype=object)[district]
    number = rng.integers(1, 600, n).astype(str).astype(object)
    floor = rng.integers(1, 30, n).astype(str).astype(object)
    return "江苏省南京市" + names + _pick(rng, STREETS, n) + number + "号" + floor + "楼"


def company_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return "南京" + _pick(rng, COMPANY_WORDS, n) + _pick(rng, COMPANY_TRADES, n) + "有限公司"


def group_names(rng: np.random.Generator, district: np.ndarray) -> np.ndarray:
    out = []
    templates = rng.integers(0, len(GROUP_NAMES), len(district))
    numbers = rng.integers(1, 60, len(district))
    words = _pick(rng, COMPANY_WORDS, len(district))
    for template, number, word, d in zip(templates, numbers, words, district, strict=True):
        out.append(GROUP_NAMES[template].format(n=number, w=word, d=DISTRICTS[d][0]))
    return np.asarray(out, dtype=object)


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


def id_numbers(rng: np.random.Generator, region_codes: np.ndarray, birth: np.ndarray,
               male: np.ndarray) -> np.ndarray:
    """18-digit resident identity numbers with a valid GB 11643 check character."""
    n = len(region_codes)
    ymd = np.datetime_as_string(birth, unit="D").astype("U10")
    ymd = np.char.replace(ymd, "-", "")
    seq = rng.integers(0, 500, n) * 2 + male.astype(int)  # odd for men
    body = np.char.add(np.char.add(region_codes.astype("U6"), ymd),
                       np.char.zfill(seq.astype("U3"), 3))
    digits = body.view("U1").reshape(n, 17).astype(np.int64)
    check = _ID_CHECK[(digits @ _ID_WEIGHTS) % 11]
    return np.char.add(body, check).astype(object)


_CREDIT_CHARS = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))


def credit_codes(rng: np.random.Generator, district: np.ndarray) -> np.ndarray:
    """Unified social credit codes (format only) for enterprise and group customers."""
    n = len(district)
    region = np.asarray([d[1] for d in DISTRICTS])[district]
    tail = _CREDIT_CHARS[rng.integers(0, len(_CREDIT_CHARS), (n, 10))]
    tail_str = np.array(["".join(row) for row in tail]) if n else np.array([], dtype="U10")
    return np.char.add(np.char.add("91", region), tail_str).astype(object)
