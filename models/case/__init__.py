"""Cases: a child's child protection file, opened by a DSL from one or more concerns.

The package: ``tables`` (the case, its links, events, actions and decisions; see its
docstring for the rules the tables keep), ``bodies`` (what a DSL sends to open and
change one) and ``answers`` (how the DSL desk reads one). A case's tasks are their own
aggregate (``models.task``).
"""

from models.case.answers import ActionPublic as ActionPublic
from models.case.answers import CaseEventPublic as CaseEventPublic
from models.case.answers import CasePage as CasePage
from models.case.answers import CasePublic as CasePublic
from models.case.answers import CaseSummary as CaseSummary
from models.case.answers import DecisionPublic as DecisionPublic
from models.case.bodies import ActionCreate as ActionCreate
from models.case.bodies import CaseClose as CaseClose
from models.case.bodies import CaseCreate as CaseCreate
from models.case.bodies import CaseLevelChange as CaseLevelChange
from models.case.bodies import CaseLink as CaseLink
from models.case.bodies import CaseReassign as CaseReassign
from models.case.bodies import CaseReopen as CaseReopen
from models.case.bodies import CaseReview as CaseReview
from models.case.bodies import DecisionCreate as DecisionCreate
from models.case.tables import EVENT_VALUE_MAX as EVENT_VALUE_MAX
from models.case.tables import MAX_LINKED as MAX_LINKED
from models.case.tables import OPEN_ONLY as OPEN_ONLY
from models.case.tables import SUMMARY_MAX as SUMMARY_MAX
from models.case.tables import TEXT_MAX as TEXT_MAX
from models.case.tables import WITH_WHOM_MAX as WITH_WHOM_MAX
from models.case.tables import ActionType as ActionType
from models.case.tables import Case as Case
from models.case.tables import CaseAction as CaseAction
from models.case.tables import CaseConcern as CaseConcern
from models.case.tables import CaseDecision as CaseDecision
from models.case.tables import CaseEvent as CaseEvent
from models.case.tables import CaseEventKind as CaseEventKind
from models.case.tables import CaseLevel as CaseLevel
from models.case.tables import CaseStatus as CaseStatus
