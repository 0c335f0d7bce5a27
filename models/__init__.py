from . import account_chart_template
from . import client_refund_reason
from . import client_refund
from . import res_company
from . import res_config_settings
from . import res_partner
