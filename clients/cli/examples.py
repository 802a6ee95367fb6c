"""One example for each CLI command, shown at the end of its `--help`.

They live together so that a test can check every command has one and that each parses.
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "serve": "tocsin serve --config tocsin.yaml",
    "server": "tocsin server --database postgresql://tocsin@db.internal/tocsin",
    "migrate": "tocsin migrate --database postgresql://tocsin@db.internal/tocsin",
    "shim": "tocsin shim --grpc-target 10.0.0.5:50051 --config tocsin.yaml",
    "alerts create": "tocsin alerts create --message 'Disk full on db-1' --alias disk-db1 "
    "--priority P2 --tag disk --responder team:ops",
    "alerts list": "tocsin alerts list --status open --ack unacked --priority P1 --priority P2",
    "alerts get": "tocsin alerts get --alias disk-db1 --team ops",
    "alerts ack": "tocsin alerts ack 12 --note 'looking'",
    "alerts unack": "tocsin alerts unack 12",
    "alerts close": "tocsin alerts close --alias disk-db1 --note 'cleaned up'",
    "alerts snooze": "tocsin alerts snooze 12 --for 30m",
    "alerts note": "tocsin alerts note 12 --text 'the disk fills with old logs'",
    "alerts tag": "tocsin alerts tag 12 --tag disk --tag db",
    "alerts untag": "tocsin alerts untag 12 --tag db",
    "alerts detail": "tocsin alerts detail 12 --set host=db-1 region=eu-west-1",
    "alerts priority": "tocsin alerts priority 12 --level P1",
    "alerts log": "tocsin alerts log 12 --wide",
    "alerts watch": "tocsin alerts watch --team ops --resume 1042",
    "alerts escalate": "tocsin alerts escalate 12",
    "alerts pages": "tocsin alerts pages --alias disk-db1",
    "teams create": "tocsin teams create ops --description 'Operations'",
    "teams list": "tocsin teams list",
    "teams get": "tocsin teams get ops",
    "teams rename": "tocsin teams rename ops platform",
    "teams delete": "tocsin teams delete platform",
    "teams members": "tocsin teams members ops",
    "teams add-member": "tocsin teams add-member ops alice --role admin",
    "teams remove-member": "tocsin teams remove-member ops alice",
    "integrations create": "tocsin integrations create aws-prod --type cloudtrail --team ops "
    "--topic-arn arn:aws:sns:us-east-1:123456789012:alerts",
    "integrations update": "tocsin integrations update aws-prod --assignee-team sre "
    "--topic-arn arn:aws:sns:us-east-1:123456789012:security-alerts",
    "integrations list": "tocsin integrations list --team ops",
    "integrations set-rules": "tocsin integrations set-rules aws-prod -f rules.yaml",
    "integrations test-rules": "tocsin integrations test-rules aws-prod --message-file msg.json",
    "integrations get-rules": "tocsin integrations get-rules aws-prod",
    "integrations get": "tocsin integrations get aws-prod",
    "integrations enable": "tocsin integrations enable aws-prod",
    "integrations disable": "tocsin integrations disable aws-prod",
    "integrations rotate-key": "tocsin integrations rotate-key aws-prod",
    "integrations delete": "tocsin integrations delete aws-prod",
    "users create": "tocsin users create alice --full-name 'Alice Liddell' "
    "--time-zone Europe/Berlin",
    "users list": "tocsin users list",
    "users get": "tocsin users get alice",
    "users delete": "tocsin users delete alice",
    "users update": "tocsin users update alice --role admin",
    "users add-contact": "tocsin users add-contact alice --channel sms --address +4915112345678 "
    "--name phone",
    "users remove-contact": "tocsin users remove-contact alice phone",
    "users set-rule": "tocsin users set-rule alice --kind high_priority --step push "
    "--step phone:2 --repeat-minutes 10 --repeat-times 2",
    "schedules create": "tocsin schedules create web --time-zone America/New_York "
    "--rotation primary --type weekly --start 2026-03-02T09:00 --participants ann,ben",
    "schedules update": "tocsin schedules update web --rotation primary --participants ann,ben,cy",
    "schedules list": "tocsin schedules list --team ops",
    "schedules get": "tocsin schedules get web",
    "schedules delete": "tocsin schedules delete web",
    "schedules oncall": "tocsin schedules oncall web --next",
    "schedules timeline": "tocsin schedules timeline web --from 2026-03-02T00:00 --days 7",
    "schedules gaps": "tocsin schedules gaps --days 30",
    "schedules export-ical": "tocsin schedules export-ical web --user ann -o web.ics",
    "schedules override add": "tocsin schedules override add web --user ben "
    "--start 2026-03-03T09:00 --end 2026-03-04T09:00",
    "schedules override remove": "tocsin schedules override remove web OVERRIDE_ID",
    "schedules override list": "tocsin schedules override list web",
    "policies create": "tocsin policies create ops-default --team ops "
    "--rule '0 schedule:web' --rule '10m team:ops' --repeat-after 30m --repeat-times 2",
    "policies update": "tocsin policies update ops-default --name ops-default "
    "--rule '0 schedule:web' --rule '5m user:alice'",
    "policies list": "tocsin policies list --team ops",
    "policies get": "tocsin policies get ops-default",
    "policies delete": "tocsin policies delete ops-default",
    "routing get": "tocsin routing get ops",
    "routing set": "tocsin routing set ops -f routing.yaml",
    "apply": "tocsin apply -f tocsin-config.yaml --dry-run",
    "export": "tocsin export -o tocsin-config.yaml",
    "tokens create": "tocsin tokens create ci",
    "tokens list": "tocsin tokens list",
    "tokens revoke": "tocsin tokens revoke TOKEN_ID",
}
