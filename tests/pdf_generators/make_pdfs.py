"""PDF reports made by other generators than ours, with the tables printed on them.

Usage: make_pdfs.py OUTDIR [--only reportlab,fpdf,libreoffice] [--soffice PATH]

Writes, for each generator, ``<name>.pdf`` and ``<name>.expected.csv``: the table exactly as
printed (header rows as printed lines, then body rows; a cell printed over two lines keeps
its line break; thousands separators are the NBSP or U+202F the generator printed). Figures
are SYNTHETIC (seeded RNG); commune codes and names only look real. The reportlab and fpdf
files are byte-identical from run to run, LibreOffice's only in content. Layouts are the
ones French publications use:

- ``reportlab_grid``: a fully ruled table (reportlab ``Table``) with a 2-row header whose
  first row spans the year columns, zebra rows, continued on page 2 with the header repeated
  (``repeatRows``), commune names in Paragraphs that wrap over several lines, a title, an
  introduction, a running header, page numbers and a footnote. The expected CSV is the
  logical table (header once).
- ``reportlab_hrules`` and ``reportlab_vrules``: rules on one axis only — a rule under every
  row and none between columns, or rules between columns (set close together) and none
  between rows — with group names wrapped over up to three lines, vertically centred on
  their numbers, in the second column. Read with the strategy chosen per axis.
- ``fpdf_words`` and ``fpdf_core_words``: no rules at all; every word placed on its own with
  ``pdf.text(x, y, w)`` (as fpdf-style and many in-house generators do), numbers right-aligned
  by measuring their width, a 2-line header whose first line is centred over the two year
  columns, an `n.d.` cell, a bold total row, a title and a note paragraph. The first embeds
  DejaVu (CID font), the second uses fpdf's core Helvetica (latin-1, not embedded).
- ``libreoffice_calc``: a spreadsheet (flat ODS) printed to PDF by LibreOffice Calc, INSEE /
  DGCL style: horizontal rules only (above and below the header, above the total), numbers
  stored as numbers and formatted by the fr-FR locale, explicit line breaks in header cells,
  bold section rows, a total row, a title, a unit line and source notes; Calc's default page
  header and footer are kept.
"""

import argparse
import csv
import datetime
import os
import random
import shutil
import subprocess
import sys
import tempfile

NBSP = "\u00a0"
NNBSP = "\u202f"
DEJAVU = "/usr/share/fonts/truetype/dejavu"
SEED = 20240517


def fr_number(x, decimals=2, sep=NBSP):
    """French layout: `-1 234 567,89` with `sep` between thousands."""
    s = f"{abs(x):,.{decimals}f}"
    negative = x < 0 and s.strip("0.,") != ""  # no `-0,0`
    return ("-" if negative else "") + s.replace(",", sep).replace(".", ",")


def fr_percent(x, sep=NBSP):
    """`12,5 %`: one decimal, a no-break space before the sign."""
    return fr_number(x, 1, sep) + sep + "%"


def communes(rng, n):
    """`n` distinct communes (code, name), sorted by code. Codes follow INSEE's shape:
    department + 3 digits, Corsica 2A/2B, overseas 97x + 2 digits."""
    fixed = [
        ("01001", "L'Abergement-Clémenciat"),
        ("2A004", "Ajaccio"),
        ("2B033", "Bastia"),
        ("42218", "Saint-Étienne"),
        ("97105", "Basse-Terre"),
        ("97411", "Saint-Denis"),
        ("91228", "Évry-Courcouronnes"),
        ("51108", "Châlons-en-Champagne"),
    ]
    heads = ["Saint-Étienne", "Sainte-Hélène", "Villeneuve", "Châteauneuf", "Beaulieu",
             "La Chapelle", "Le Mesnil", "Fontaine", "Neuville", "Saint-Genès", "Montréal",
             "Pérignat", "Lézignan", "Bourg", "Écully", "Saint-Martin"]
    tails = ["-sur-Loire", "-lès-Béziers", "-d'Azergues", "-en-Bresse", "-de-Rivière",
             "-la-Forêt", "-aux-Bois", "-sous-Thil", "-du-Rhône", "-l'Évêque", ""]
    depts = ["01", "02", "13", "2A", "2B", "30", "34", "42", "59", "63", "69", "88", "971",
             "972", "974"]
    out = {c: nm for c, nm in fixed[: min(n, len(fixed))]}
    names = set(out.values())
    while len(out) < n:
        d = rng.choice(depts)
        code = d + f"{rng.randint(1, 99 if len(d) == 3 else 899):0{5 - len(d)}d}"
        name = rng.choice(heads) + rng.choice(tails)
        if code in out or name in names:
            continue
        out[code] = name
        names.add(name)
    # INSEE order: 2A/2B sort between 19 and 21
    key = lambda c: c.replace("2A", "20A").replace("2B", "20B")
    return sorted(out.items(), key=lambda kv: key(kv[0]))


def write_expected(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for r in rows:
            w.writerow(r)


# --------------------------------------------------------------------------------------------
# reportlab: ruled table over two pages


def make_reportlab(out, rng):
    from reportlab import rl_config

    rl_config.invariant = 1  # no dates nor random ids in the file: same bytes every run
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_JUSTIFY
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if os.path.exists(f"{DEJAVU}/DejaVuSans.ttf"):
        pdfmetrics.registerFont(TTFont("DejaVu", f"{DEJAVU}/DejaVuSans.ttf"))
        pdfmetrics.registerFont(TTFont("DejaVu-Bold", f"{DEJAVU}/DejaVuSans-Bold.ttf"))
        font, bold, sep = "DejaVu", "DejaVu-Bold", NNBSP
    else:
        # core fonts are WinAnsi: no narrow no-break space there
        font, bold, sep = "Helvetica", "Helvetica-Bold", NBSP

    header = [
        ["Code\nINSEE", "Commune", "Dépenses réelles de\nfonctionnement (€)", "",
         "Évolution\n2023/2022", "Épargne nette\n2023 (€)"],
        ["", "", "2022", "2023", "", ""],
    ]
    cell = ParagraphStyle("c", fontName=font, fontSize=8, leading=9.5)
    name_width = 5.0 * cm - 12  # column width less reportlab's default 6 pt paddings
    long_names = {10: "Saint-Martin-de-Belleville (commune déléguée des Belleville)",
                  44: "Le Mesnil-Saint-Denis et Lévis-Saint-Nom (commune nouvelle)"}

    def name_cell(name):
        # names go in Paragraphs, which wrap: the expected text has reportlab's own line breaks
        para = Paragraph(name, cell)
        para.wrap(name_width, 1e6)
        return para, "\n".join(" ".join(words) for _, words in para.blPara.lines)

    body, printed = [], []
    rows = communes(rng, 58)
    # the secret cell never hides one of the figures placed on purpose below
    secret = rng.choice([i for i in range(5, len(rows) - 5) if i not in (7, 10, 44)])
    for i, (code, name) in enumerate(rows):
        para, text = name_cell(long_names.get(i, name))
        d22 = rng.randint(800_000_00, 250_000_000_00) / 100
        d23 = round(d22 * rng.uniform(0.93, 1.12), 2)
        ep = rng.randint(-1_500_000_00, 9_000_000_00) / 100
        if i == 3:
            ep = -12345.0  # a round negative amount: `-12 345,00`
        evo = round((d23 / d22 - 1) * 100, 1)
        if i == 7:
            d23, evo = round(d22 * 1.125, 2), 12.5  # `12,5 %`
        cells = [code, text, fr_number(d22, sep=sep), fr_number(d23, sep=sep),
                 fr_percent(evo, sep=sep), fr_number(ep, sep=sep)]
        if i == secret:
            cells[2], cells[4] = "s", "s"
        printed.append(cells)
        body.append([cells[0], para] + cells[2:])

    title = ParagraphStyle("t", fontName=bold, fontSize=12.5, leading=16, spaceAfter=6)
    prose = ParagraphStyle("p", fontName=font, fontSize=9, leading=12, alignment=TA_JUSTIFY)
    note = ParagraphStyle("n", fontName=font, fontSize=7.5, leading=9.5)
    story = [
        Paragraph("Tableau 2 – Dépenses réelles de fonctionnement des communes de 10 000 "
                  "habitants ou plus", title),
        Paragraph("Les dépenses réelles de fonctionnement regroupent les charges de personnel, "
                  "les achats et charges externes, les charges financières et les dépenses "
                  "d'intervention. Les montants sont exprimés en euros courants ; l'épargne "
                  "nette est l'épargne brute diminuée du remboursement en capital de la dette. "
                  "Données SYNTHÉTIQUES produites pour les tests.", prose),
        Spacer(1, 10),
    ]
    t = Table(header + body, colWidths=[1.6 * cm, 5.0 * cm, 2.7 * cm, 2.7 * cm, 2.1 * cm,
                                        2.7 * cm], repeatRows=2)
    t.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), font, 8),
        ("FONT", (0, 0), (-1, 1), bold, 8),
        ("LEADING", (0, 0), (-1, -1), 9.5),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BOX", (0, 0), (-1, -1), 1.0, colors.black),
        ("SPAN", (0, 0), (0, 1)),
        ("SPAN", (1, 0), (1, 1)),
        ("SPAN", (2, 0), (3, 0)),
        ("SPAN", (4, 0), (4, 1)),
        ("SPAN", (5, 0), (5, 1)),
        ("BACKGROUND", (0, 0), (-1, 1), colors.Color(0.85, 0.88, 0.93)),
        ("ROWBACKGROUNDS", (0, 2), (-1, -1), [colors.white, colors.Color(0.95, 0.95, 0.95)]),
        ("ALIGN", (0, 0), (-1, 1), "CENTER"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (2, 2), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]))
    story += [
        t,
        Spacer(1, 8),
        Paragraph("s : secret statistique (moins de trois contribuables ou un contribuable "
                  "représentant plus de 85 % de la base). Évolution : variation des dépenses "
                  "réelles de fonctionnement entre 2022 et 2023. Champ : communes de France "
                  "métropolitaine et des DROM. Source : comptes de gestion, calculs "
                  "SYNTHÉTIQUES.", note),
    ]

    def decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.drawRightString(A4[0] - 2 * cm, A4[1] - 1.2 * cm,
                               "Les finances des communes en 2023")
        canvas.drawCentredString(A4[0] / 2, 1.2 * cm, f"– {doc.page} –")
        canvas.restoreState()

    pdf = os.path.join(out, "reportlab_grid.pdf")
    doc = SimpleDocTemplate(pdf, pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm,
                            topMargin=2 * cm, bottomMargin=2 * cm,
                            title="Dépenses des communes (synthétique)", author="opencoll tests")
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    write_expected(os.path.join(out, "reportlab_grid.expected.csv"), header + printed)


# --------------------------------------------------------------------------------------------
# reportlab: rules on one axis only (strategy chosen per axis)


def make_reportlab_rules(out, rng, axis):
    """``reportlab_hrules``: a rule under every row and no vertical rule (columns come from
    the text); ``reportlab_vrules``: rules between columns and no horizontal rule (rows come
    from the text), columns set close together, wrapped labels centred on their numbers."""
    from reportlab import rl_config

    rl_config.invariant = 1
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font, bold, sep = "Helvetica", "Helvetica-Bold", NBSP
    header = ["Code", "Groupement", "Population", "DGF 2023 (€)", "DGF 2024 (€)"]
    cell = ParagraphStyle("c", fontName=font, fontSize=8, leading=9.5)
    name_width = 4.2 * cm - 12
    printed, body = [], []
    for i, (code, name) in enumerate(communes(rng, 16)):
        siren = f"2{code[:2].replace('A', '0').replace('B', '0')}{rng.randint(0, 999999):06d}"
        label = f"CC de {name}" if i % 5 else f"Communauté d'agglomération du pays de {name}"
        para = Paragraph(label, cell)
        para.wrap(name_width, 1e6)
        text = "\n".join(" ".join(w) for _, w in para.blPara.lines)
        d23 = rng.randint(50_000_00, 30_000_000_00) / 100
        d24 = round(d23 * rng.uniform(0.97, 1.05), 2)
        pop = rng.randint(3_000, 250_000)
        cells = [siren, text, fr_number(pop, 0, sep), fr_number(d23, sep=sep),
                 fr_number(d24, sep=sep)]
        if i == 6:
            cells[4] = "-12" + sep + "345,00"
        printed.append(cells)
        body.append([siren, para] + cells[2:])
    t = Table([header] + body, colWidths=[2.0 * cm, 4.2 * cm, 2.0 * cm, 2.6 * cm, 2.6 * cm])
    style = [
        ("FONT", (0, 0), (-1, -1), font, 8),
        ("FONT", (0, 0), (-1, 0), bold, 8),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if axis == "h":
        style += [("LINEABOVE", (0, 0), (-1, 0), 1.0, colors.black),
                  ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.grey)]
    else:
        style += [("LINEAFTER", (0, 0), (-2, -1), 0.4, colors.black),
                  ("LEFTPADDING", (0, 0), (-1, -1), 1.5),
                  ("RIGHTPADDING", (0, 0), (-1, -1), 1.5)]
    t.setStyle(TableStyle(style))
    title = ParagraphStyle("t", fontName=bold, fontSize=11, leading=14, spaceAfter=6)
    note = ParagraphStyle("n", fontName=font, fontSize=7.5, leading=9.5)
    stem = "reportlab_hrules" if axis == "h" else "reportlab_vrules"
    story = [
        Paragraph("Tableau 4 – Dotation globale de fonctionnement des groupements "
                  "(données SYNTHÉTIQUES)", title),
        Spacer(1, 6),
        t,
        Spacer(1, 8),
        Paragraph("Source : calculs SYNTHÉTIQUES pour les tests. Montants en euros.", note),
    ]
    doc = SimpleDocTemplate(os.path.join(out, stem + ".pdf"), pagesize=A4,
                            leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm,
                            bottomMargin=2 * cm, title=stem, author="opencoll tests")
    doc.build(story)
    write_expected(os.path.join(out, stem + ".expected.csv"), [header] + printed)


# --------------------------------------------------------------------------------------------
# fpdf2: word-by-word placement, no rules


def make_fpdf(out, rng, stem, core):
    """`core`: fpdf's built-in Helvetica (not embedded, latin-1 text, the PDF carries no glyph
    widths for it); else DejaVu embedded as a CID font."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_creation_date(datetime.datetime(2024, 5, 17, tzinfo=datetime.timezone.utc))
    pdf.set_auto_page_break(False)
    if not core and os.path.exists(f"{DEJAVU}/DejaVuSans.ttf"):
        pdf.add_font("DejaVu", "", f"{DEJAVU}/DejaVuSans.ttf")
        pdf.add_font("DejaVu", "B", f"{DEJAVU}/DejaVuSans-Bold.ttf")
        family = "DejaVu"
    else:
        family = "Helvetica"  # latin-1: accents and NBSP are there, the en dash is not
    pdf.add_page()

    def words_left(x, y, text):
        # one text object per word; the space advance is measured, never drawn
        space = pdf.get_string_width(" ")
        for w in text.split(" "):
            pdf.text(x, y, w)
            x += pdf.get_string_width(w) + space

    def words_right(right, y, text):
        words_left(right - pdf.get_string_width(text), y, text)

    def paragraph(x, y, width, text, leading):
        line = []
        for w in text.split(" "):
            if line and pdf.get_string_width(" ".join(line + [w])) > width:
                words_left(x, y, " ".join(line))
                y += leading
                line = []
            line.append(w)
        if line:
            words_left(x, y, " ".join(line))
        return y + leading

    pdf.set_font(family, "B", 12)
    dash = "-" if family == "Helvetica" else "–"
    words_left(50, 70, f"Tableau 4 {dash} Recettes et épargne des communes touristiques en 2023")
    pdf.set_font(family, "", 9)
    words_left(50, 88, "Montants en euros, population municipale au 1er janvier 2023")

    # columns: left edges for text, right edges for numbers (header words aligned likewise)
    x_code, x_name = 50, 92
    rights = [262, 345, 428, 505, 560]
    # the first header line spans the two year columns, centred over them
    span = "Recettes de fonctionnement"
    header = [
        ["", "", "", span, "", "Épargne", "Taux"],
        ["Code", "Commune", "Population", "2022", "2023", "brute 2023", "d'épargne"],
    ]
    body = []
    rows = communes(rng, 26)
    secret = rng.choice([i for i in range(3, len(rows) - 3) if i not in (5, 9, 12)])
    total = [0, 0.0, 0.0, 0.0]
    for i, (code, name) in enumerate(rows):
        pop = rng.randint(350, 180_000)
        r22 = rng.randint(300_000_00, 60_000_000_00) / 100
        rec = round(r22 * rng.uniform(0.95, 1.1), 2)
        ep = round(rec * rng.uniform(-0.08, 0.22), 2)
        if i == 5:
            ep = -12345.0
        taux = ep / rec * 100
        if i == 9:
            ep = round(rec * 0.125, 2)
            taux = 12.5
        total = [total[0] + pop, total[1] + r22, total[2] + rec, total[3] + ep]
        cells = [code, name, fr_number(pop, 0), fr_number(r22), fr_number(rec), fr_number(ep),
                 fr_percent(taux)]
        if i == secret:
            cells[5], cells[6] = "s", "s"
        if i == 12:
            cells[2] = "n.d."  # commune nouvelle: no population of its own yet
        body.append(cells)
    body.append(["", "Ensemble", fr_number(total[0], 0), fr_number(total[1]),
                 fr_number(total[2]), fr_number(total[3]),
                 fr_percent(total[3] / total[2] * 100)])

    y = 124
    pdf.set_font(family, "B", 8.5)
    left = rights[1] - 62  # left edge of the first year column's widest figure
    words_left((left + rights[2] - pdf.get_string_width(span)) / 2, y, span)
    words_right(rights[3], y, header[0][5])
    words_right(rights[4], y, header[0][6])
    y += 11
    words_left(x_code, y, header[1][0])
    words_left(x_name, y, header[1][1])
    for r, text in zip(rights, header[1][2:]):
        words_right(r, y, text)
    y += 16
    pdf.set_font(family, "", 8.5)
    for k, cells in enumerate(body):
        if k == len(body) - 1:
            y += 4  # the total stands a little apart, in bold
            pdf.set_font(family, "B", 8.5)
        if cells[0]:
            words_left(x_code, y, cells[0])
        words_left(x_name, y, cells[1])
        for r, text in zip(rights, cells[2:]):
            words_right(r, y, text)
        y += 12.5
    y += 14
    pdf.set_font(family, "", 8)
    paragraph(50, y, 490,
              "Note : l'épargne brute est l'excédent des recettes réelles de fonctionnement sur "
              "les dépenses réelles de fonctionnement ; le taux d'épargne la rapporte aux "
              "recettes. s : secret statistique. Une épargne négative signale une section de "
              "fonctionnement en déficit. Données SYNTHÉTIQUES, calculs de test.", 10.5)
    pdf.output(os.path.join(out, f"{stem}.pdf"))
    write_expected(os.path.join(out, f"{stem}.expected.csv"), header + body)


# --------------------------------------------------------------------------------------------
# LibreOffice Calc: flat ODS printed to PDF


FODS_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:styles>
 <number:number-style style:name="N_amount" number:language="fr" number:country="FR">
  <number:number number:decimal-places="2" number:min-decimal-places="2"
   number:min-integer-digits="1" number:grouping="true"/>
 </number:number-style>
 <number:number-style style:name="N_int" number:language="fr" number:country="FR">
  <number:number number:decimal-places="0" number:min-integer-digits="1" number:grouping="true"/>
 </number:number-style>
 <number:percentage-style style:name="N_pct" number:language="fr" number:country="FR">
  <number:number number:decimal-places="1" number:min-decimal-places="1"
   number:min-integer-digits="1"/>
  <number:text>\u00a0%</number:text>
 </number:percentage-style>
 <style:style style:name="Default" style:family="table-cell">
  <style:text-properties fo:font-size="8pt"/>
 </style:style>
</office:styles>
<office:automatic-styles>
 <style:style style:name="co_code" style:family="table-column">
  <style:table-column-properties style:column-width="1.7cm"/></style:style>
 <style:style style:name="co_name" style:family="table-column">
  <style:table-column-properties style:column-width="4.2cm"/></style:style>
 <style:style style:name="co_pop" style:family="table-column">
  <style:table-column-properties style:column-width="2.3cm"/></style:style>
 <style:style style:name="co_num" style:family="table-column">
  <style:table-column-properties style:column-width="2.9cm"/></style:style>
 <style:style style:name="co_pct" style:family="table-column">
  <style:table-column-properties style:column-width="2.6cm"/></style:style>
 <style:style style:name="title" style:family="table-cell" style:parent-style-name="Default">
  <style:text-properties fo:font-weight="bold" fo:font-size="11pt"/></style:style>
 <style:style style:name="unit" style:family="table-cell" style:parent-style-name="Default">
  <style:text-properties fo:font-style="italic" fo:font-size="8pt"/></style:style>
 <style:style style:name="hd" style:family="table-cell" style:parent-style-name="Default">
  <style:table-cell-properties fo:border-top="0.75pt solid #000000"
   fo:border-bottom="0.75pt solid #000000" fo:border-left="none" fo:border-right="none"
   style:vertical-align="bottom"/>
  <style:paragraph-properties fo:text-align="start"/>
  <style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="hdr" style:family="table-cell" style:parent-style-name="Default">
  <style:table-cell-properties fo:border-top="0.75pt solid #000000"
   fo:border-bottom="0.75pt solid #000000" fo:border-left="none" fo:border-right="none"
   style:vertical-align="bottom"/>
  <style:paragraph-properties fo:text-align="end"/>
  <style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="txt" style:family="table-cell" style:parent-style-name="Default"/>
 <style:style style:name="amt" style:family="table-cell" style:parent-style-name="Default"
  style:data-style-name="N_amount"/>
 <style:style style:name="int" style:family="table-cell" style:parent-style-name="Default"
  style:data-style-name="N_int"/>
 <style:style style:name="pct" style:family="table-cell" style:parent-style-name="Default"
  style:data-style-name="N_pct"/>
 <style:style style:name="sect" style:family="table-cell" style:parent-style-name="Default">
  <style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="sec" style:family="table-cell" style:parent-style-name="Default">
  <style:paragraph-properties fo:text-align="end"/></style:style>
 <style:style style:name="tot" style:family="table-cell" style:parent-style-name="Default">
  <style:table-cell-properties fo:border-top="0.75pt solid #000000"
   fo:border-bottom="0.75pt solid #000000" fo:border-left="none" fo:border-right="none"/>
  <style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="tot_amt" style:family="table-cell" style:parent-style-name="Default" style:data-style-name="N_amount">
  <style:table-cell-properties fo:border-top="0.75pt solid #000000"
   fo:border-bottom="0.75pt solid #000000" fo:border-left="none" fo:border-right="none"/>
  <style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="tot_int" style:family="table-cell" style:parent-style-name="Default" style:data-style-name="N_int">
  <style:table-cell-properties fo:border-top="0.75pt solid #000000"
   fo:border-bottom="0.75pt solid #000000" fo:border-left="none" fo:border-right="none"/>
  <style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="tot_pct" style:family="table-cell" style:parent-style-name="Default" style:data-style-name="N_pct">
  <style:table-cell-properties fo:border-top="0.75pt solid #000000"
   fo:border-bottom="0.75pt solid #000000" fo:border-left="none" fo:border-right="none"/>
  <style:text-properties fo:font-weight="bold"/></style:style>
 <style:style style:name="note" style:family="table-cell" style:parent-style-name="Default">
  <style:text-properties fo:font-size="8pt"/></style:style>
</office:automatic-styles>
<office:body><office:spreadsheet>
<table:table table:name="Tableau 3">
 <table:table-column table:style-name="co_code"/>
 <table:table-column table:style-name="co_name"/>
 <table:table-column table:style-name="co_pop"/>
 <table:table-column table:style-name="co_num" table:number-columns-repeated="2"/>
 <table:table-column table:style-name="co_pct"/>
"""


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell_text(text, style):
    # a line break typed in a cell (Ctrl+Enter) is stored as one paragraph per line
    paras = "".join(f"<text:p>{esc(p)}</text:p>" for p in text.split("\n"))
    return f'<table:table-cell table:style-name="{style}" office:value-type="string">' \
           f"{paras}</table:table-cell>"


def cell_float(v, style, kind="float"):
    return f'<table:table-cell table:style-name="{style}" office:value-type="{kind}" ' \
           f'office:value="{v!r}"/>'


def row(cells):
    return "<table:table-row>" + "".join(cells) + "</table:table-row>\n"


def make_libreoffice(out, rng, soffice):
    # LibreOffice 7.4's fr-FR locale groups thousands with U+00A0 and writes `-` for minus
    sep = NBSP
    header_cells = ["Code\ncommune", "Libellé", "Population\nmunicipale",
                    "Dépenses\nd'équipement", "Résultat de\nl'exercice", "Part de\nl'équipement"]
    rows = communes(rng, 22)
    secret = rng.choice([i for i in range(2, len(rows) - 2) if i not in (4, 6)])
    data = []
    for i, (code, name) in enumerate(rows):
        pop = rng.randint(2_000, 520_000)
        equip = rng.randint(50_000_00, 30_000_000_00) / 100
        res = rng.randint(-3_000_000_00, 12_000_000_00) / 100
        if i == 4:
            res = -12345.0
        data.append([code, name, pop, equip, res])
    # one share printed as 12,5 %: that commune's spending is 1/7 of the others'
    k = 6
    data[k][3] = round(sum(d[3] for i, d in enumerate(data) if i != k) / 7, 2)
    total_pop = sum(d[2] for d in data)
    total_equip = round(sum(d[3] for d in data), 2)
    # the total includes the secret figure: only the cell is masked
    total_res = round(sum(d[4] for d in data), 2)
    data[secret][4] = None
    for d in data:
        d.append(d[3] / total_equip)  # share of the total, stored unrounded as a formula would

    xml = [FODS_HEAD]
    xml.append(row([cell_text("Tableau 3 – Investissement et résultat des communes en "
                              "2023", "title")]))
    xml.append(row([cell_text("En euros ; données SYNTHÉTIQUES", "unit")]))
    xml.append(row([]))
    hd = [cell_text(h, "hd" if j < 2 else "hdr") for j, h in enumerate(header_cells)]
    xml.append(row(hd))
    expected = [[h.split("\n")[0] if "\n" in h else "" for h in header_cells],
                [h.split("\n")[-1] for h in header_cells]]
    section = None
    for code, name, pop, equip, res, share in data:
        # INSEE-style section rows: bold label in the first column, running over the next
        part = "Départements d'outre-mer" if code.startswith("97") else "France métropolitaine"
        if part != section:
            section = part
            xml.append(row([cell_text(part, "sect")]))
            expected.append([part, "", "", "", "", ""])
        cells = [cell_text(code, "txt"), cell_text(name, "txt"), cell_float(pop, "int"),
                 cell_float(equip, "amt")]
        cells.append(cell_text("s", "sec") if res is None else cell_float(res, "amt"))
        cells.append(cell_float(share, "pct", "percentage"))
        xml.append(row(cells))
        expected.append([code, name, fr_number(pop, 0, sep), fr_number(equip, 2, sep),
                         "s" if res is None else fr_number(res, 2, sep),
                         fr_percent(round(share * 100, 1), NBSP)])
    xml.append(row([cell_text("", "tot"), cell_text("Ensemble", "tot"),
                    cell_float(total_pop, "tot_int"), cell_float(total_equip, "tot_amt"),
                    cell_float(total_res, "tot_amt"), cell_float(1.0, "tot_pct", "percentage")]))
    expected.append(["", "Ensemble", fr_number(total_pop, 0, sep), fr_number(total_equip, 2, sep),
                     fr_number(total_res, 2, sep), fr_percent(100.0, NBSP)])
    xml.append(row([]))
    xml.append(row([cell_text("s : secret statistique. Le résultat de l'exercice est la "
                              "différence entre les recettes et les dépenses de l'année.",
                              "note")]))
    xml.append(row([cell_text("Sources : DGFiP, comptes de gestion ; Insee, recensement de la "
                              "population ; calculs SYNTHÉTIQUES.", "note")]))
    xml.append("</table:table></office:spreadsheet></office:body></office:document>\n")

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "libreoffice_calc.fods")
        with open(src, "w", encoding="utf-8") as f:
            f.write("".join(xml))
        # a private profile: no clash with a running instance, no user settings
        profile = "file://" + os.path.join(tmp, "profile")
        subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless",
                        "--convert-to", "pdf", "--outdir", tmp, src],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=300)
        shutil.copy(os.path.join(tmp, "libreoffice_calc.pdf"),
                    os.path.join(out, "libreoffice_calc.pdf"))
    write_expected(os.path.join(out, "libreoffice_calc.expected.csv"), expected)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", default="reportlab,fpdf,libreoffice")
    ap.add_argument("--soffice", default=shutil.which("soffice") or "soffice")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    only = set(a.only.split(","))
    # one RNG per document: adding a document never changes the others
    if "reportlab" in only:
        make_reportlab(a.out, random.Random(SEED))
        make_reportlab_rules(a.out, random.Random(SEED + 4), "h")
        make_reportlab_rules(a.out, random.Random(SEED + 5), "v")
    if "fpdf" in only:
        make_fpdf(a.out, random.Random(SEED + 1), "fpdf_words", core=False)
        make_fpdf(a.out, random.Random(SEED + 3), "fpdf_core_words", core=True)
    if "libreoffice" in only:
        make_libreoffice(a.out, random.Random(SEED + 2), a.soffice)


if __name__ == "__main__":
    sys.exit(main())
