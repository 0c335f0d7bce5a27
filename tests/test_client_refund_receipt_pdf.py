import io
import subprocess

from markupsafe import Markup

from odoo.tests import Form, HttpCase, tagged
from odoo.tools.pdf import PdfFileReader

from odoo.addons.base.models.ir_actions_report import _get_wkhtmltopdf_bin

from .test_client_refund_tour import ClientRefundHttpFixtures

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

    def test_receipt_pdf_bytes(self):
        report = self.env["ir.actions.report"]
        if report.get_wkhtmltopdf_state() != "ok":
            self.skipTest(
                f"wkhtmltopdf is not usable ({report.get_wkhtmltopdf_state()}): "
                "install the Debian package wkhtmltopdf"
            )
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
        # whitespace normalised: amounts are rendered with non-breaking spaces
        text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
        amount = " ".join(refund.currency_id.format(1234.5).split())
        self.assertIn("1,234.50", amount)
        self.assertIn(f"Refund Receipt {refund.name}", text)
        self.assertIn(f"Refunded {amount}", text)
        self.assertIn(self.reason.name, text)
        self.assertIn(self.client.name, text)
        self.assertIn(self.invoice.name, text)
        self.assertIn(refund.credit_note_ids.name, text)
