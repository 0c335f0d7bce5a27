import contextlib
import io
import logging
import socket
import subprocess

from markupsafe import Markup

from odoo import Command, fields
from odoo.tests import Form, HttpCase, tagged
from odoo.tools.pdf import PdfFileReader

from odoo.addons.base.models.ir_actions_report import _get_wkhtmltopdf_bin

from .common import ClientRefundHttpFixtures

# A wkhtmltopdf built on Debian's own Qt ("unpatched qt") draws the web fonts of
# Odoo's reports (Lato, loaded with @font-face) as outlines: the PDF looks right
# but has no text to extract. The builds Odoo recommends ("with patched qt")
# embed them. On an unpatched build the test gives the report's font a system
# face (DejaVu Sans), for every weight and style, after the report's own
# @font-face rules: the text keeps its report font where the report's styles
# put it, and stays in wkhtmltopdf's default serif where they did not load.
REPORT_FONT = "Lato"  # web's $o-default-report-font
STAND_IN_FONT = "DejaVu Sans"
STAND_IN_STYLE = (
    "<style>"
    + "".join(
        f'@font-face {{ font-family: "{REPORT_FONT}"; src: local("{STAND_IN_FONT}"); '
        f"font-weight: {weight}; font-style: {style}; }}"
        for weight in range(100, 1000, 100)
        for style in ("normal", "italic")
    )
    + "</style>"
)
# Odoo logs what wkhtmltopdf said as a warning of this logger: an asset it
# could not fetch ends its output with "Exit with code 1 due to network error".
REPORT_LOGGER = "odoo.addons.base.models.ir_actions_report"


def _wkhtmltopdf_has_patched_qt():
    version = subprocess.run(
        [_get_wkhtmltopdf_bin(), "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout
    return "patched qt" in version


@contextlib.contextmanager
def _wkhtmltopdf_messages():
    messages = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger(REPORT_LOGGER)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def _pdf_text_runs(page):
    """(x, y, text, font) of each run of text drawn on PAGE, in points from the
    page's bottom left (x where the run ends, as the reader reports it)."""
    runs = []

    def visit(text, cm, tm, font_dict, _font_size):
        text = " ".join(text.split())
        if text:
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            font = str((font_dict or {}).get("/BaseFont", "")).lstrip("/").split("+")[-1]
            runs.append((x, y, text, font))

    page.extract_text(visitor_text=visit)
    return runs


@tagged("post_install", "-at_install")
class TestClientRefundReceiptPdf(ClientRefundHttpFixtures, HttpCase):
    """The receipt as the client gets it: a real PDF made by wkhtmltopdf.

    In test mode Odoo renders reports as HTML unless `force_report_rendering`
    is set; wkhtmltopdf then fetches the report's assets from the HTTP server,
    which only an HttpCase runs (sharing the test's transaction)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_refund_fixtures(price=2000.0)

    def _keep_text_on_unpatched_qt(self):
        if _wkhtmltopdf_has_patched_qt():
            return None
        report_class = type(self.env["ir.actions.report"])
        run_wkhtmltopdf = report_class._run_wkhtmltopdf
        styled = []

        def _run_wkhtmltopdf(report, bodies, *args, **kwargs):
            # str(): Markup.replace would escape "</head>"
            bodies = [
                Markup(str(body).replace("</head>", STAND_IN_STYLE + "</head>", 1))
                for body in bodies
            ]
            styled.extend(STAND_IN_STYLE in body for body in bodies)
            return run_wkhtmltopdf(report, bodies, *args, **kwargs)

        self.patch(report_class, "_run_wkhtmltopdf", _run_wkhtmltopdf)
        return styled

    def _render_pdf(self, refund):
        """The receipt made by the real wkhtmltopdf, its one page, and what
        wkhtmltopdf said."""
        report = self.env["ir.actions.report"]
        styled = self._keep_text_on_unpatched_qt()
        # The server's first static file makes it read every manifest
        # (odoo.http.root.statics): wkhtmltopdf's parallel requests doing so at
        # once may fail (CPython 3.11: "AST constructor recursion depth mismatch").
        self.url_open("/web/static/img/favicon.ico").raise_for_status()
        with _wkhtmltopdf_messages() as messages:
            pdf, report_format = report.with_context(
                force_report_rendering=True
            )._render_qweb_pdf("client_refund.action_report_client_refund", refund.ids)
        self.assertEqual(report_format, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"), pdf[:100])
        if styled is not None:
            self.assertTrue(styled and all(styled), "the stand-in font reached every page")
        reader = PdfFileReader(io.BytesIO(pdf))
        self.assertEqual(len(reader.pages), 1)
        return reader.pages[0], messages, styled is not None

    def _layout_problems(self, page, messages, stand_in, refund):
        """How the receipt differs from its layout. Without the report's styles
        and fonts (wkhtmltopdf could not fetch them) it prints in a serif, in
        one column at the left: the client's block below the company's instead
        of beside it, the amounts at the left instead of the right."""
        problems = [
            f"wkhtmltopdf did not load the report's assets: {message.strip()}"
            for message in messages
            if "network error" in message or "Failed to load" in message
        ]
        runs = _pdf_text_runs(page)
        width = float(page.mediabox.width)
        fonts = sorted({font for *_, font in runs})
        font = STAND_IN_FONT.replace(" ", "") if stand_in else REPORT_FONT
        if not fonts or any(f != font and not f.startswith(f"{font}-") for f in fonts):
            problems.append(f"the text is not in the report's font ({font}): {fonts}")
        client = [x for x, _y, text, _font in runs if text == refund.partner_id.name]
        if not client or min(client) < width / 2:
            problems.append(f"the client's block is not beside the company's: x {client}")
        amount = [x for x, _y, text, _font in runs
                  if text.split()[-1] == f"{refund.amount:,.2f}"]
        if not amount or min(amount) < width * 3 / 4:
            problems.append(f"the amount refunded is not at the right: x {amount}")
        return problems

    def _render_pdf_text(self, refund):
        """The receipt's text layer, with whitespace normalised (amounts are
        rendered with non-breaking spaces), once its layout is checked."""
        self.assertEqual(
            self.env["ir.actions.report"]._get_report_url(),
            self.base_url(),
            "wkhtmltopdf fetches the report's assets from the server of the test",
        )
        page, messages, stand_in = self._render_pdf(refund)
        self.assertEqual(self._layout_problems(page, messages, stand_in, refund), [])
        return " ".join(page.extract_text().split())

    def _refund_by_amount(self, amount):
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=self.invoice.id)
        ) as wizard:
            wizard.refund_mode = "amount"
            wizard.partial_by = "amount"
            wizard.amount = amount
            wizard.reason_id = self.reason
            wizard.send_receipt = False
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")
        return refund

    def _skip_without_wkhtmltopdf(self):
        state = self.env["ir.actions.report"].get_wkhtmltopdf_state()
        if state != "ok":
            self.skipTest(
                f"wkhtmltopdf is not usable ({state}): install the Debian package wkhtmltopdf"
            )

    def test_receipt_pdf_prints_whole_with_lines_and_way_paid_back(self):
        """The company block, the lines refunded (products and quantities) and the
        way paid back in words are in the page body: a wkhtmltopdf on an
        unpatched Qt, which drops report headers, prints them too."""
        self._skip_without_wkhtmltopdf()
        self.company.write(
            {"street": "12 Salon Street", "city": "Brussels", "vat": "BE0477472701"}
        )
        haircut = self.env["product.product"].create(
            {"name": "Colour Treatment", "type": "service", "list_price": 80.0, "taxes_id": []}
        )
        shampoo = self.env["product.product"].create(
            {"name": "Argan Shampoo", "type": "consu", "list_price": 15.0, "taxes_id": []}
        )
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create({"product_id": haircut.id, "quantity": 1, "price_unit": 80.0,
                                    "tax_ids": []}),
                    Command.create({"product_id": shampoo.id, "quantity": 3, "price_unit": 15.0,
                                    "tax_ids": []}),
                ],
            }
        )
        invoice.action_post()
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.cash_journal.id})._create_payments()
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=invoice.id)
        ) as wizard:
            wizard.refund_mode = "lines"
            wizard.reason_id = self.reason
            wizard.send_receipt = False
            for index in range(len(wizard.line_ids)):
                with wizard.line_ids.edit(index) as line:
                    line.quantity = 2.0 if line.product_id == shampoo else 1.0
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")
        self.assertEqual(refund.amount, 110.0)

        text = self._render_pdf_text(refund.with_user(self.refund_user))

        self.assertIn(self.company.name, text)
        self.assertIn("12 Salon Street", text)
        self.assertIn("BE0477472701", text)
        self.assertIn(self.client.name, text)
        self.assertIn(f"Refund Receipt {refund.name}", text)
        amount = " ".join(refund.currency_id.format(110.0).split())
        # product, quantity and amount of each line refunded
        for product, quantity, line_amount in (("Colour Treatment", "1.00", 80.0),
                                               ("Argan Shampoo", "2.00", 30.0)):
            line_amount = " ".join(refund.currency_id.format(line_amount).split())
            self.assertIn(f"{product} {quantity} {line_amount}", text)
        self.assertIn(f"Refunded {amount}", text)
        self.assertIn(f"Paid back: Cash {amount}", text)
        self.assertNotIn("Cash / Bank", text)

    def test_receipt_pdf_bytes(self):
        self._skip_without_wkhtmltopdf()
        refund = self._refund_by_amount(1234.5)

        text = self._render_pdf_text(refund)
        amount = " ".join(refund.currency_id.format(1234.5).split())
        self.assertIn("1,234.50", amount)
        self.assertIn(f"Refund Receipt {refund.name}", text)
        self.assertIn(f"Refunded {amount}", text)
        self.assertIn(self.reason.name, text)
        self.assertIn(self.client.name, text)
        self.assertIn(self.invoice.name, text)
        self.assertIn(refund.credit_note_ids.name, text)

    def test_receipt_pdf_without_its_assets_is_told_apart(self):
        """The layout check sees a receipt printed while web.base.url names a
        port nobody serves (a database made from a template of another run)."""
        self._skip_without_wkhtmltopdf()
        refund = self._refund_by_amount(100.0)
        with contextlib.closing(socket.socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]  # closed again when wkhtmltopdf calls
        self.env["ir.config_parameter"].set_param(
            "web.base.url", f"http://127.0.0.1:{closed_port}"
        )
        with self.assertLogs(REPORT_LOGGER, "WARNING"):  # kept out of the run's log
            page, messages, stand_in = self._render_pdf(refund)
        problems = self._layout_problems(page, messages, stand_in, refund)
        self.assertEqual(len(problems), 4, problems)
        self.assertIn("did not load the report's assets", problems[0])
        self.assertIn("Serif", problems[1])
