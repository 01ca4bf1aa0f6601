// What every sample shares: where the API is and a token for one user.
export const BASE = process.env.API_URL;
export const TOKEN = process.env.API_TOKEN;
export const USER = process.env.API_USER;

export async function api(path, init = {}) {
  const res = await fetch(`${BASE}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json", ...(init.headers ?? {}) },
  });
  return res;
}
