"""Real files for the document tests, made here: PDFs with and without a text layer,
images with rendered text, a Word document, and damaged files."""

from __future__ import annotations

import io
import zlib

from PIL import Image, ImageDraw, ImageFont

REPORT_PAGES = [
    "Quarterly Sales Report. Revenue grew in every region this quarter.",
    "The northern region doubled its customers after the spring campaign.",
    "Next quarter the team will open two offices and hire ten engineers.",
]

SCANNED_TEXT = "Invoice 4711 for garden tools"


def _pdf(objects: list[bytes], padding: int = 0) -> bytes:
    """A PDF of the numbered ``objects`` (1 is the catalog) with a correct xref table,
    and about ``padding`` bytes of comment lines before them."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    out.write((b"%" + b"x" * 78 + b"\n") * (padding // 80))
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def pdf_with_text(pages: list[str], padding: int = 0) -> bytes:
    """A PDF whose pages carry ``pages`` in their text layer (Helvetica)."""
    count = len(pages)
    # 1 catalog, 2 pages, 3 font, then a page and its content stream per page.
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, line in enumerate(pages):
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        content = b"BT /F1 11 Tf 50 750 Td (%s) Tj ET" % escaped.encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * index)
        )
        objects.append(_stream(content))
    return _pdf(objects, padding)


def padded_pdf(size: int) -> bytes:
    """A valid text PDF of about ``size`` bytes (a comment pads it), for benchmarks."""
    base = pdf_with_text(REPORT_PAGES)
    return pdf_with_text(REPORT_PAGES, padding=max(0, size - len(base)))


def text_image(text: str = SCANNED_TEXT, *, fmt: str = "PNG") -> bytes:
    """White image with ``text`` in large black letters, as a scanner would give it."""
    font = ImageFont.load_default(size=48)
    image = Image.new("L", (1400, 200), color=255)
    ImageDraw.Draw(image).text((40, 60), text, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def scanned_pdf(text: str = SCANNED_TEXT) -> bytes:
    """A one-page PDF without a text layer: the page is an image of ``text``."""
    image = Image.open(io.BytesIO(text_image(text))).convert("L")
    raw = zlib.compress(image.tobytes())
    width, height = image.size
    content = b"q %d 0 0 %d 0 0 cm /Im0 Do Q" % (width // 2, height // 2)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
        b"/Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>"
        % (width // 2, height // 2),
        _stream(content),
        _stream(
            raw,
            b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Filter /FlateDecode " % (width, height),
        ),
    ]
    return _pdf(objects)


def corrupt_pdf() -> bytes:
    """Starts like a PDF, then is nothing of the kind."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n1 0 obj << /Type /Catalog"


def word_document(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
