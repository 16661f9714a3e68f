"""Tasks: follow-ups a DSL sets on a case for a member of staff, with a due date.

Who sees and does what is ``services.access``'s rule: the DSL desk sets tasks and sees
every task of the school (with its case and pupil); a member of staff sees the tasks
given to them (title, due date, status), never the case; a task is completed by its
assignee or the DSL desk. Anything else is a 404, as if it did not exist.

Audit, ids only, in the same transaction, ``pupil_id`` the case's pupil: ``task.create``,
``task.complete``; and ``task.list``, one event per listed page with its pupils in
``audit_event_pupil`` (ADR 0126).

Modules: ``shaping`` (a task as its reader may see it, and a case's tasks), ``commands``
(``set_task``: the one place a task is created and given to someone; ``complete_task``),
``listing`` (``list_tasks``). What is due (for the inbox and the alerts) is
``services.due``'s.
"""

from services.tasks.commands import complete_task as complete_task
from services.tasks.commands import get_task as get_task
from services.tasks.commands import set_task as set_task
from services.tasks.listing import TaskListPage as TaskListPage
from services.tasks.listing import list_tasks as list_tasks
from services.tasks.shaping import shape_tasks as shape_tasks
from services.tasks.shaping import tasks_of_case as tasks_of_case
