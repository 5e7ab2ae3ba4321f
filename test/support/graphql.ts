/** Minimal GraphQL-over-HTTP client for tests: returns the whole response body. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
  return (await gqlResponse<T>(url, query, variables, headers)).body;
}

/** The same, with the HTTP status and headers. */
export async function gqlResponse<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Headers;
  body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as {
    data?: T;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
  return { status: res.status, headers: res.headers, body };
}

/** An Authorization header carrying a bearer token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
