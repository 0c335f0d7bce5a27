import io
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
# embed them. On an unpatched build the test prints the receipt in a system
# font, so that the PDF keeps its text; nothing else of the rendering changes.
SYSTEM_FONT_STYLE = (
    '<style>body, body * { font-family: "DejaVu Sans", sans-serif !important; }</style>'
)


def _wkhtmltopdf_has_patched_qt():
    version = subprocess.run(
        [_get_wkhtmltopdf_bin(), "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout
    return "patched qt" in version


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
            return
        report_class = type(self.env["ir.actions.report"])
        run_wkhtmltopdf = report_class._run_wkhtmltopdf
        styled = []

        def _run_wkhtmltopdf(report, bodies, *args, **kwargs):
            # str(): Markup.replace would escape "</head>"
            bodies = [
                Markup(str(body).replace("</head>", SYSTEM_FONT_STYLE + "</head>", 1))
                for body in bodies
            ]
            styled.extend(SYSTEM_FONT_STYLE in body for body in bodies)
            return run_wkhtmltopdf(report, bodies, *args, **kwargs)

        self.patch(report_class, "_run_wkhtmltopdf", _run_wkhtmltopdf)
        return styled

    def _render_pdf_text(self, refund):
        """The receipt made by the real wkhtmltopdf, and its text layer, with
        whitespace normalised (amounts are rendered with non-breaking spaces)."""
        report = self.env["ir.actions.report"]
        styled = self._keep_text_on_unpatched_qt()
        pdf, report_format = report.with_context(force_report_rendering=True)._render_qweb_pdf(
            "client_refund.action_report_client_refund", refund.ids
        )
        self.assertEqual(report_format, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"), pdf[:100])
        if styled is not None:
            self.assertTrue(styled and all(styled), "the system font reached every page")
        reader = PdfFileReader(io.BytesIO(pdf))
        self.assertEqual(len(reader.pages), 1)
        return " ".join(" ".join(page.extract_text() for page in reader.pages).split())

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
        with Form(
            self.env["client.refund.wizard"]
            .with_user(self.refund_user)
            .with_context(default_source_type="invoice", default_move_id=self.invoice.id)
        ) as wizard:
            wizard.refund_mode = "amount"
            wizard.partial_by = "amount"
            wizard.amount = 1234.5
            wizard.reason_id = self.reason
            wizard.send_receipt = False
        refund = self.env["client.refund"].browse(wizard.record.action_confirm()["res_id"])
        self.assertEqual(refund.state, "done")

        text = self._render_pdf_text(refund)
        amount = " ".join(refund.currency_id.format(1234.5).split())
        self.assertIn("1,234.50", amount)
        self.assertIn(f"Refund Receipt {refund.name}", text)
        self.assertIn(f"Refunded {amount}", text)
        self.assertIn(self.reason.name, text)
        self.assertIn(self.client.name, text)
        self.assertIn(self.invoice.name, text)
        self.assertIn(refund.credit_note_ids.name, text)
