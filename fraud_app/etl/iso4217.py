"""ISO 4217: each currency's minor unit (the decimals of its amounts), by code.

Owns the built-in table that `etl.amount_minor_units: iso4217` reads
(fraud_app.etl.amount_config): a multi-currency export in minor units writes each
currency with its own decimals: JPY 1000 for 1000 yen, USD 1000 for 10.00 dollars, KWD
1000 for 1.000 dinar. The table is the JDK's (java.util.Currency of Java 17.0.15, which
follows the ISO 4217 amendments, withdrawn codes included; a test compares it with the
JVM the ETL runs on) plus UYW; the codes without a minor unit (gold XAU, XDR, XXX, ...)
are not in it. Payment processors depart from ISO for a few (ISK, HUF, TWD, UGX):
etl.currency.minor_units overrides a currency's entry.
"""

from __future__ import annotations

# the codes whose minor unit is not 2 decimals; every other code in _CODES has 2
_ZERO = (
    "ADP BEF BIF BYB BYR CLP DJF ESP GNF GRD ISK ITL JPY KMF KRW LUF "
    "MGF PTE PYG ROL RWF TPE TRL UGX UYI VND VUV XAF XOF XPF"
)
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
# alphabetic:numeric code of every currency in the table
_CODES = """
ADP:020 AED:784 AFA:004 AFN:971 ALL:008 AMD:051 ANG:532 AOA:973 ARS:032 ATS:040 AUD:036
AWG:533 AYM:945 AZM:031 AZN:944 BAM:977 BBD:052 BDT:050 BEF:056 BGL:100 BGN:975 BHD:048
BIF:108 BMD:060 BND:096 BOB:068 BOV:984 BRL:986 BSD:044 BTN:064 BWP:072 BYB:112 BYN:933
BYR:974 BZD:084 CAD:124 CDF:976 CHE:947 CHF:756 CHW:948 CLF:990 CLP:152 CNY:156 COP:170
COU:970 CRC:188 CSD:891 CUC:931 CUP:192 CVE:132 CYP:196 CZK:203 DEM:276 DJF:262 DKK:208
DOP:214 DZD:012 EEK:233 EGP:818 ERN:232 ESP:724 ETB:230 EUR:978 FIM:246 FJD:242 FKP:238
FRF:250 GBP:826 GEL:981 GHC:288 GHS:936 GIP:292 GMD:270 GNF:324 GRD:300 GTQ:320 GWP:624
GYD:328 HKD:344 HNL:340 HRK:191 HTG:332 HUF:348 IDR:360 IEP:372 ILS:376 INR:356 IQD:368
IRR:364 ISK:352 ITL:380 JMD:388 JOD:400 JPY:392 KES:404 KGS:417 KHR:116 KMF:174 KPW:408
KRW:410 KWD:414 KYD:136 KZT:398 LAK:418 LBP:422 LKR:144 LRD:430 LSL:426 LTL:440 LUF:442
LVL:428 LYD:434 MAD:504 MDL:498 MGA:969 MGF:450 MKD:807 MMK:104 MNT:496 MOP:446 MRO:478
MRU:929 MTL:470 MUR:480 MVR:462 MWK:454 MXN:484 MXV:979 MYR:458 MZM:508 MZN:943 NAD:516
NGN:566 NIO:558 NLG:528 NOK:578 NPR:524 NZD:554 OMR:512 PAB:590 PEN:604 PGK:598 PHP:608
PKR:586 PLN:985 PTE:620 PYG:600 QAR:634 ROL:642 RON:946 RSD:941 RUB:643 RUR:810 RWF:646
SAR:682 SBD:090 SCR:690 SDD:736 SDG:938 SEK:752 SGD:702 SHP:654 SIT:705 SKK:703 SLE:925
SLL:694 SOS:706 SRD:968 SRG:740 SSP:728 STD:678 STN:930 SVC:222 SYP:760 SZL:748 THB:764
TJS:972 TMM:795 TMT:934 TND:788 TOP:776 TPE:626 TRL:792 TRY:949 TTD:780 TWD:901 TZS:834
UAH:980 UGX:800 USD:840 USN:997 USS:998 UYI:940 UYU:858 UYW:927 UZS:860 VEB:862 VED:926
VEF:937 VES:928 VND:704 VUV:548 WST:882 XAF:950 XCD:951 XCG:532 XOF:952 XPF:953 YER:886
YUM:891 ZAR:710 ZMK:894 ZMW:967 ZWD:716 ZWG:924 ZWL:932 ZWN:942 ZWR:935
"""


def _twins() -> dict[str, tuple[str, ...]]:
    twins: dict[str, tuple[str, ...]] = {}
    for pair in _CODES.split():
        alpha, numeric = pair.split(":")
        twins[alpha] = (numeric,)
        twins[numeric] = (*twins.get(numeric, ()), alpha)
    return twins


def _table() -> dict[str, int]:
    decimals = {c: 0 for c in _ZERO.split()}
    decimals.update({c: 3 for c in _THREE.split()})
    decimals.update({c: 4 for c in _FOUR.split()})
    table: dict[str, int] = {}
    for pair in _CODES.split():
        alpha, numeric = pair.split(":")
        table[alpha] = table[numeric] = decimals.get(alpha, 2)
    return table


# {code: decimals}, by the alphabetic code (JPY) and by the numeric one (392)
MINOR_UNITS: dict[str, int] = _table()
# {code: its other ISO 4217 codes}: JPY -> (392,), 392 -> (JPY,), 532 -> (ANG, XCG)
TWINS: dict[str, tuple[str, ...]] = _twins()
