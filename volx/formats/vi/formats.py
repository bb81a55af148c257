# Vietnamese dates are day first, "01/12/2026"; times with their time zone.
DATE_FORMAT = "d/m/Y"
SHORT_DATE_FORMAT = "d/m/Y"
DATETIME_FORMAT = "H:i T, d/m/Y"
SHORT_DATETIME_FORMAT = "H:i T, d/m/Y"
