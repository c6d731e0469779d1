using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Confiture's sessions run with <c>row_security = off</c>, so a policy can never hide a row from an
/// emptiness check, a load or a digest: PostgreSQL then refuses (42501) instead of filtering. This
/// says so before the first write, naming the table, its policies and what the role needs.
/// See https://www.postgresql.org/docs/current/ddl-rowsecurity.html.
/// </summary>
internal static class RowSecurity
{
    /// <summary>Refuses a table whose policies apply to the current role.</summary>
    public static async Task EnsureNotFilteredAsync(NpgsqlConnection connection, uint table, string qualifiedTable, string side, DatabaseEndpoint server, CancellationToken cancellationToken)
    {
        var facts = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls)
                   AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'USAGE')),
                   c.relforcerowsecurity,
                   array(SELECT quote_ident(p.polname) FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY p.polname)
            FROM pg_class c, pg_roles r WHERE c.oid = $1 AND r.rolname = current_user
            """,
            r => (Filtered: r.GetBoolean(0), Forced: r.GetBoolean(1), Policies: r.GetFieldValue<string[]>(2)), cancellationToken, table).ConfigureAwait(false);
        if (facts.Count == 0 || !facts[0].Filtered)
        {
            return;
        }

        var (_, forced, policies) = facts[0];
        throw new ConfitureException(ConfitureErrorKind.PermissionDenied,
            $"Row-level security on {qualifiedTable} (policies: {(policies.Length == 0 ? "none, so every row is hidden" : string.Join(", ", policies))}" +
            $"{(forced ? "; FORCE ROW LEVEL SECURITY" : string.Empty)}) applies to {server.Username} on the {side} server {server}: it would hide rows " +
            "from Confiture, so it refuses the table (its sessions run with row_security = off). Nothing was written.",
            qualifiedTable,
            $"Let the role bypass row-level security (ALTER ROLE {SqlText.Identifier(server.Username)} BYPASSRLS, as a superuser), " +
            "or run as the table's owner with NO FORCE ROW LEVEL SECURITY on it.");
    }
}
