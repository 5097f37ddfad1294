"""Every desk command's handler, in one table: a new operation is a command class, a small
handler function in the module of its kind, and one line here."""

from __future__ import annotations

from pbx.desk import commands as c
from pbx.desk.handlers import agents, callers, control, credits, mandates, payments, recording
from pbx.desk.handlers.common import Handler, Ports

HANDLERS: dict[type[c.Command], Handler] = {
    c.AgentStates: agents.agent_states,
    c.AgentStateOf: agents.agent_state_of,
    c.SetAgentState: agents.set_agent_state,
    c.ClickToCall: agents.click_to_call,
    c.QueueStats: agents.queue_stats,
    c.Hold: control.hold,
    c.Resume: control.resume,
    c.HangUp: control.hang_up,
    c.Transfer: control.transfer,
    c.CompleteTransfer: control.complete_transfer,
    c.CancelTransfer: control.cancel_transfer,
    c.PauseRecording: recording.pause_recording,
    c.ResumeRecording: recording.resume_recording,
    c.StartRecording: recording.start_recording,
    c.StopRecording: recording.stop_recording,
    c.TakeCardPayment: payments.take_card_payment,
    c.SendPayLink: payments.send_pay_link,
    c.VerifyCaller: credits.verify_caller,
    c.CallWithAccount: credits.call_with_account,
    c.GrantCreditInCall: credits.grant_credit_in_call,
    c.SetUpMandateByPhone: mandates.set_up_mandate_by_phone,
    c.SendMandateLink: mandates.send_mandate_link,
    c.AttachCustomer: callers.attach_customer,
}

__all__ = ["HANDLERS", "Handler", "Ports"]
