/**
 * exclusion.kql: inbox-rule events from both places Microsoft 365 audit data reaches a SOC, joined
 * to sinkrule's watchlist on mailbox AND rule name AND forward target together (never the target
 * alone: an attacker's rule to the same sink under another name, or our name pointing elsewhere,
 * must still alert). Column names, from Microsoft's reference pages:
 * - Azure Monitor Logs reference, "OfficeActivity": TimeGenerated, Operation, UserId,
 *   MailboxOwnerUPN, OfficeObjectId, Parameters (the cmdlet's parameters as a JSON array of
 *   {Name, Value}), OperationProperties (mailbox-audit operations such as UpdateInboxRules).
 * - Defender XDR advanced hunting, "CloudAppEvents": Timestamp, ActionType, Application,
 *   AccountDisplayName, ObjectName, RawEventData (the audit record: Parameters, OperationProperties,
 *   MailboxOwnerUPN, ObjectId); Microsoft's alert-grading playbook for forwarding rules reads the
 *   rule from RawEventData.Parameters.
 * New-InboxRule / Set-InboxRule carry the rule as parameters (Name, ForwardAsAttachmentTo, ForwardTo,
 * RedirectTo); UpdateInboxRules (Graph, EWS, Outlook) as operation properties (RuleName, RuleActions).
 */
export function exclusionKql(aliases: readonly string[], options: { ruleName: string; generatedAt: string }): string {
  if (aliases.length === 0) throw new Error('exclusion.kql needs at least one watchlist alias');
  const watchlists = aliases.map((alias) => `    _GetWatchlist('${alias}')`).join(',\n');
  return `// sinkrule exclusion query, generated ${options.generatedAt}.
// Inbox-rule events (New-InboxRule, Set-InboxRule, UpdateInboxRules) from OfficeActivity (Sentinel)
// and CloudAppEvents (Defender XDR, or Sentinel with the Defender XDR connector), matched to the
// sinkrule watchlist(s) ${aliases.join(', ')} on mailbox AND rule name AND forward target.
// A rule sinkrule deployed ("${options.ruleName}") matches all three and is shown as IsSinkrule = true;
// anything else -- another name, another target, another mailbox -- stays IsSinkrule = false.
// In an analytics rule, keep "| where not(IsSinkrule)" at the end to suppress only sinkrule's own rules.
let InboxRuleOperations = dynamic(["New-InboxRule", "Set-InboxRule", "UpdateInboxRules"]);
let SinkruleWatchlist = union isfuzzy=true
${watchlists}
    | project
        WatchlistMailbox = tolower(tostring(MailboxUpn)),
        WatchlistRuleName = tolower(tostring(RuleDisplayName)),
        WatchlistTarget = tolower(tostring(ForwardTarget)),
        SinkruleRuleId = tostring(RuleId),
        SinkruleRunId = tostring(RunId);
let FromOfficeActivity = OfficeActivity
    | where Operation in (InboxRuleOperations)
    | extend Settings = iff(Operation == "UpdateInboxRules", todynamic(OperationProperties), todynamic(Parameters))
    | project EventTime = TimeGenerated, Source = "OfficeActivity", Operation, Actor = UserId,
        Owner = tostring(MailboxOwnerUPN), ObjectId = tostring(OfficeObjectId), Settings;
let FromCloudAppEvents = CloudAppEvents
    | where ActionType in (InboxRuleOperations)
    | extend Settings = iff(ActionType == "UpdateInboxRules", RawEventData.OperationProperties, RawEventData.Parameters)
    | project EventTime = Timestamp, Source = "CloudAppEvents", Operation = ActionType, Actor = AccountDisplayName,
        Owner = tostring(RawEventData.MailboxOwnerUPN), ObjectId = tostring(RawEventData.ObjectId), Settings;
union FromOfficeActivity, FromCloudAppEvents
| mv-apply Setting = Settings on (
    summarize
        RuleName = take_anyif(tostring(Setting.Value), tostring(Setting.Name) in ("Name", "RuleName")),
        MailboxParameter = take_anyif(tostring(Setting.Value), tostring(Setting.Name) in ("Mailbox", "Identity")),
        Forwarding = make_list_if(tostring(Setting.Value),
            tostring(Setting.Name) in ("ForwardAsAttachmentTo", "ForwardTo", "RedirectTo", "RuleActions"))
    )
| extend Mailbox = tolower(coalesce(Owner, extract(@"([^\\\\/\\s]+@[^\\\\/\\s]+)", 1, MailboxParameter), Actor))
| extend Targets = extract_all(@"([A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,})", strcat_array(Forwarding, " "))
| extend Target = tolower(strcat_array(array_sort_asc(set_union(Targets, dynamic([]))), ";"))
| extend RuleNameKey = tolower(RuleName)
| join kind=leftouter SinkruleWatchlist
    on $left.Mailbox == $right.WatchlistMailbox,
       $left.RuleNameKey == $right.WatchlistRuleName,
       $left.Target == $right.WatchlistTarget
| extend IsSinkrule = isnotempty(WatchlistMailbox)
| project EventTime, Source, Operation, Mailbox, RuleName, Target, Actor, ObjectId, IsSinkrule,
    SinkruleRuleId, SinkruleRunId
| order by EventTime desc
`;
}
