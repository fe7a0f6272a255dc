"""Reading text out of a stored file, page by page: plain text and Markdown as they are,
PDFs through their text layer (``pypdf``), and images and scanned PDF pages by OCR
(Tesseract through ``pytesseract``), Word documents through ``python-docx``.

Everything here is blocking and CPU-bound: the handler runs each page in a thread and
reports progress between pages.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytesseract
from PIL import Image, ImageSequence, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from backend.features.documents.upload import DOCX, JPEG, PDF, PNG, TEXT_TYPES, TIFF

log = logging.getLogger(__name__)

# A PDF page with less text than this in its text layer is taken for a scan: its
# images are read by OCR.
MIN_LAYER_CHARACTERS = 16

INSTALL_OCR = (
    "Install Tesseract where documents are processed (Debian/Ubuntu: `apt-get install "
    "tesseract-ocr tesseract-ocr-eng`; macOS: `brew install tesseract`), then retry the "
    "extraction (POST to the document's /extract link)."
)


class ExtractionError(Exception):
    """Text cannot be read from the file; ``code`` and ``message`` are safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def failed(message: str) -> ExtractionError:
    return ExtractionError("EXTRACTION_FAILED", message)


@dataclass(frozen=True)
class OcrConfig:
    command: str = "tesseract"
    languages: str = "eng"


@dataclass(frozen=True)
class PageText:
    text: str
    method: str  # "text", "pdf", "ocr" or "docx"


class OpenedDocument(Protocol):
    pages: int

    def page(self, index: int) -> PageText:
        """The text of page ``index`` (0-based)."""
        ...

    def close(self) -> None: ...


def recognise(image: Image.Image, ocr: OcrConfig) -> str:
    """The text of an image, by Tesseract; OCR_UNAVAILABLE when it is not installed."""
    if shutil.which(ocr.command) is None:
        raise ExtractionError(
            "OCR_UNAVAILABLE", f"Text recognition (OCR) is not installed. {INSTALL_OCR}"
        )
    # pytesseract reads the program from a module setting; a process has one value.
    pytesseract.pytesseract.tesseract_cmd = ocr.command
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    try:
        text: str = pytesseract.image_to_string(image, lang=ocr.languages)
    except pytesseract.TesseractNotFoundError as exc:
        raise ExtractionError(
            "OCR_UNAVAILABLE", f"Text recognition (OCR) is not installed. {INSTALL_OCR}"
        ) from exc
    except pytesseract.TesseractError as exc:
        if "language" in str(exc).lower() or "traineddata" in str(exc).lower():
            raise ExtractionError(
                "OCR_UNAVAILABLE",
                f"The OCR language data {ocr.languages!r} is not installed (Debian/Ubuntu: "
                "`apt-get install tesseract-ocr-eng`, one package per language), then retry "
                "the extraction.",
            ) from exc
        log.warning("tesseract failed", extra={"error": str(exc)[:500]})
        raise failed("Text recognition could not read this image.") from exc
    return text.strip()


class PlainText:
    pages = 1

    def __init__(self, path: Path) -> None:
        self._path = path

    def page(self, index: int) -> PageText:
        return PageText(self._path.read_text(encoding="utf-8-sig"), "text")

    def close(self) -> None:
        return None


class PdfDocument:
    def __init__(self, path: Path, ocr: OcrConfig) -> None:
        self._ocr = ocr
        try:
            self._reader = PdfReader(path)
            if self._reader.is_encrypted and not self._reader.decrypt(""):
                raise failed("The PDF is protected by a password; upload an unprotected copy.")
            self.pages = len(self._reader.pages)
        except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
            raise failed(
                "The file could not be read as a PDF: it may be damaged or incomplete. "
                "Upload it again, or another copy of it."
            ) from exc

    def page(self, index: int) -> PageText:
        try:
            page = self._reader.pages[index]
            text = page.extract_text() or ""
            if len(text.strip()) >= MIN_LAYER_CHARACTERS:
                return PageText(text.strip(), "pdf")
            images = [picture.image for picture in page.images if picture.image is not None]
        except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
            raise failed(
                f"Page {index + 1} of the PDF could not be read: it may be damaged."
            ) from exc
        if not images:
            return PageText(text.strip(), "pdf")
        return PageText("\n\n".join(recognise(image, self._ocr) for image in images), "ocr")

    def close(self) -> None:
        self._reader.close()


class ImageDocument:
    def __init__(self, path: Path, ocr: OcrConfig) -> None:
        self._ocr = ocr
        try:
            self._image = Image.open(path)
            self.pages = getattr(self._image, "n_frames", 1)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
            raise failed("The image could not be read: it may be damaged or too large.") from exc

    def page(self, index: int) -> PageText:
        try:
            frame = ImageSequence.Iterator(self._image)[index]
            frame.load()
        except (Image.DecompressionBombError, OSError, EOFError) as exc:
            raise failed("The image could not be read: it may be damaged or too large.") from exc
        return PageText(recognise(frame, self._ocr), "ocr")

    def close(self) -> None:
        self._image.close()


class WordDocument:
    pages = 1

    def __init__(self, path: Path) -> None:
        self._path = path

    def page(self, index: int) -> PageText:
        import docx  # imported here: only Word documents need it
        from docx.opc.exceptions import PackageNotFoundError

        try:
            document = docx.Document(str(self._path))
        except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
            raise failed("The Word document could not be read: it may be damaged.") from exc
        blocks = [p.text for p in document.paragraphs if p.text.strip()]
        for table in document.tables:
            for row in table.rows:
                cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
                if cells:
                    blocks.append(" | ".join(cells))
        return PageText("\n\n".join(blocks), "docx")

    def close(self) -> None:
        return None


def open_document(path: Path, media_type: str, ocr: OcrConfig) -> OpenedDocument:
    """The document at ``path`` ready to be read page by page."""
    if media_type in TEXT_TYPES:
        return PlainText(path)
    if media_type == PDF:
        return PdfDocument(path, ocr)
    if media_type in (PNG, JPEG, TIFF):
        return ImageDocument(path, ocr)
    if media_type == DOCX:
        return WordDocument(path)
    raise failed(f"Documents of type {media_type} cannot be read.")


def has_page_numbers(media_type: str) -> bool:
    """Whether the type has pages to count (text and Word documents do not)."""
    return media_type in (PDF, PNG, JPEG, TIFF)
