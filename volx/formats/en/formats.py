# Dates nobody misreads: "1 Dec 2026", not "12/01/2026" (a month or a day first?),
# and times with their time zone.
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
