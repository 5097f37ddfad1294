"""Senders of the outbox's messages (`billing_bridge.payments.pay_links.MessageSender`): email
over SMTP, SMS through an HTTP gateway, and the router that sends each channel its way."""
