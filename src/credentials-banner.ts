/**
 * New account credentials as printed once to the terminal (never to the log: only the token's hash
 * is stored): by the embedded first start and by `npm run account:create`. Each line is ready to
 * paste where it is needed — a shell for the README's curl examples, GraphiQL's Headers tab.
 */
export function credentialsBanner(title: string, accountSid: string, authToken: string): string {
  const basic = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  return (
    [
      '',
      `${title} Save these credentials: the token is not shown again.`,
      `  Account SID: ${accountSid}`,
      `  Auth token:  ${authToken}`,
      `  Header:      Authorization: ${basic}`,
      `  GraphiQL headers (paste into the Headers tab): ${JSON.stringify({ Authorization: basic })}`,
      `  Shell (for the curl examples): export ACCOUNT_SID=${accountSid} AUTH_TOKEN=${authToken}`,
      '',
    ].join('\n') + '\n'
  );
}
