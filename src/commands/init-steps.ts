import type { AuthKind } from '../input/auth-schema.js';
import type { clouds } from '../input/config.js';

export interface InitAnswers {
  sink: string;
  backEnds: Array<'graph' | 'ews' | 'manual'>;
  cloud: keyof typeof clouds;
  auth?: AuthKind;
  tenantId?: string;
  clientId?: string;
  certificatePath?: string;
  managedIdentityClientId?: string;
  ewsUrl?: string;
  ewsUsername?: string;
}

export interface SetupStep {
  title: string;
  text: string;
}

/** Microsoft Graph's application id: the same in every tenant. */
const graphAppId = '00000003-0000-0000-c000-000000000000';
/** Connect-ExchangeOnline / Connect-MgGraph environment names per national cloud. */
const powershellEnvironments = {
  global: { exchange: '', graph: '' },
  usgov: { exchange: ' -ExchangeEnvironmentName O365USGovGCCHigh', graph: ' -Environment USGov' },
  usgovdod: { exchange: ' -ExchangeEnvironmentName O365USGovDoD', graph: ' -Environment USGovDoD' },
  china: { exchange: ' -ExchangeEnvironmentName O365China', graph: ' -Environment China' },
} as const;

/** The setup an admin does once, with this config's values filled in (README: Exchange Online, EWS). */
export function setupSteps(a: InitAnswers): SetupStep[] {
  const steps: SetupStep[] = [];
  if (a.backEnds.includes('graph')) steps.push(...graphSteps(a));
  if (a.backEnds.includes('ews')) steps.push(ewsStep(a));
  if (a.backEnds.includes('manual')) {
    steps.push({
      title: 'POP3 and other manual mailboxes',
      text:
        'Give their rows target pop3 (or manual) and the server column; sinkrule writes per-user instructions ' +
        'into the report.',
    });
  }
  steps.push({
    title: 'Next',
    text: [
      'Add the CRM users to users.csv (one address per row), then:',
      '',
      '    sinkrule validate --users users.csv --config sinkrule.config.json',
      '    sinkrule deploy --users users.csv --config sinkrule.config.json --dry-run',
    ].join('\n'),
  });
  return steps;
}

function graphSteps(a: InitAnswers): SetupStep[] {
  const env = powershellEnvironments[a.cloud];
  const identity = a.auth === 'managed-identity';
  const appId = identity
    ? (a.managedIdentityClientId ??
      '<client id of the managed identity (Enterprise applications → Managed identities)>')
    : (a.clientId ?? '<application (client) id>');
  const register: string[] = identity
    ? [
        'No app registration: the Azure resource signs in as itself.',
        '1. Turn on the managed identity of the resource that runs sinkrule (App Service/Functions/Automation → ' +
          (a.managedIdentityClientId
            ? `Identity; user-assigned identity ${a.managedIdentityClientId}`
            : 'Identity: System assigned → On') +
          ').',
        '2. Grant it the Graph application permission MailboxSettings.ReadWrite (there is no consent screen ' +
          'for managed identities):',
        '',
        `    Connect-MgGraph${env.graph} -Scopes AppRoleAssignment.ReadWrite.All,Application.Read.All`,
        a.managedIdentityClientId
          ? `    $sp = Get-MgServicePrincipal -Filter "appId eq '${a.managedIdentityClientId}'"`
          : `    $sp = Get-MgServicePrincipal -Filter "displayName eq '<name of the App Service, Function app ` +
            `or Automation account>'"`,
        `    $graph = Get-MgServicePrincipal -Filter "appId eq '${graphAppId}'"`,
        `    $role = $graph.AppRoles | Where-Object Value -eq 'MailboxSettings.ReadWrite'`,
        '    New-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $sp.Id -PrincipalId $sp.Id ' +
          '-ResourceId $graph.Id -AppRoleId $role.Id',
      ]
    : [
        `1. Entra admin center → App registrations → ` +
          `${
            a.clientId
              ? `open the app ${a.clientId}`
              : 'New registration "sinkrule" (single tenant); note its Application (client) ID and put it in ' +
                'graph.clientId'
          }${a.tenantId ? ` in tenant ${a.tenantId}` : ''}.`,
        '2. API permissions → Add a permission → Microsoft Graph → Application permissions → ' +
          'MailboxSettings.ReadWrite → Grant admin consent.',
        `3. ${credentialStep(a)}`,
      ];
  const scope = [
    'Limit the app to the CRM users with RBAC for Applications (Exchange Online PowerShell); without it the ' +
      'permission covers every mailbox in the tenant.',
    '',
    `    Connect-MgGraph${env.graph} -Scopes Application.Read.All`,
    `    $sp = Get-MgServicePrincipal -Filter "appId eq '${appId}'"`,
    `    Connect-ExchangeOnline${env.exchange}`,
    '    New-ServicePrincipal -AppId $sp.AppId -ObjectId $sp.Id -DisplayName "sinkrule"',
    `    New-ManagementScope -Name "sinkrule CRM users" -RecipientRestrictionFilter "MemberOfGroup -eq ` +
      `'<distinguished name of the CRM users group>'"`,
    `    New-ManagementRoleAssignment -App $sp.AppId -Role "Application MailboxSettings.ReadWrite" ` +
      `-CustomResourceScope "sinkrule CRM users"`,
    `    Test-ServicePrincipalAuthorization -Identity $sp.AppId -Resource <a CRM user's address>`,
    '',
    'Then remove the tenant-wide MailboxSettings.ReadWrite grant from the ' +
      (identity
        ? 'managed identity (Remove-MgServicePrincipalAppRoleAssignment)'
        : 'app in Entra (API permissions → Revoke admin consent)') +
      ', so the scoped assignment is what grants access.',
    `Keep the sink ${a.sink} internal: Exchange Online blocks automatic forwarding to external recipients.`,
  ];
  return [
    { title: identity ? 'Managed identity' : 'App registration', text: register.join('\n') },
    { title: 'Exchange Online: scope the app to the CRM users', text: scope.join('\n') },
  ];
}

function credentialStep(a: InitAnswers): string {
  switch (a.auth) {
    case 'secret':
      return (
        'Certificates & secrets → New client secret. Give its Value (not its ID) to sinkrule in the ' +
        'environment variable SINKRULE_CLIENT_SECRET, never in the config file.'
      );
    case 'certificate':
      return [
        `Certificates & secrets → Certificates → Upload the public part (.cer) of ${a.certificatePath}. To ` +
          `make one on Windows:`,
        '',
        '    $cert = New-SelfSignedCertificate -Subject "CN=sinkrule" -CertStoreLocation ' +
          'Cert:\\CurrentUser\\My -KeyExportPolicy Exportable -KeySpec Signature -KeyLength 2048 -NotAfter ' +
          '(Get-Date).AddYears(2)',
        `    Export-PfxCertificate -Cert $cert -FilePath ${a.certificatePath} -Password (Read-Host ` +
          `-AsSecureString "PFX password")`,
        '    Export-Certificate -Cert $cert -FilePath sinkrule.cer',
        '',
        `   A PFX needs its password in the environment variable SINKRULE_CERTIFICATE_PASSWORD; a PEM file ` +
          `holds the certificate and its unencrypted private key.`,
      ].join('\n');
    case 'workload-identity':
      return [
        'Certificates & secrets → Federated credentials → Add credential for your pipeline or cluster, ' +
          'audience api://AzureADTokenExchange, e.g.',
        '   GitHub Actions: issuer https://token.actions.githubusercontent.com, subject ' +
          'repo:<org>/<repo>:environment:<environment>;',
        "   Kubernetes: the cluster's OIDC issuer URL, subject system:serviceaccount:<namespace>:<service account>.",
        '   The platform provides AZURE_FEDERATED_TOKEN_FILE; set AZURE_CLIENT_ID and AZURE_TENANT_ID if the ' +
          'config does not hold them.',
      ].join('\n');
    default:
      return (
        'Give DefaultAzureCredential one way in: AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, a ' +
        'workload identity, a managed identity, or az login / Connect-AzAccount.'
      );
  }
}

function ewsStep(a: InitAnswers): SetupStep {
  return {
    title: 'On-premises Exchange (EWS)',
    text: [
      `Give ${a.ewsUsername} impersonation of the CRM users (Exchange Management Shell), and its password to ` +
        `sinkrule in SINKRULE_EWS_PASSWORD:`,
      '',
      `    New-ManagementScope -Name "CRM users" -RecipientRestrictionFilter "MemberOfGroup -eq ` +
        `'<distinguished name of the CRM users group>'"`,
      `    New-ManagementRoleAssignment -Name "sinkrule impersonation" -Role ApplicationImpersonation -User ` +
        `"${a.ewsUsername}" -CustomRecipientWriteScope "CRM users"`,
      '',
      `The EWS virtual directory at ${a.ewsUrl} must allow Windows (NTLM) authentication.`,
    ].join('\n'),
  };
}
