using System.Collections;
using Confiture.Core.Catalog;
using Confiture.Core.Connections;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Completion;

/// <summary>
/// Completes source table names, in the schema given with -SourceSchema or -Schema, else the
/// session's source schema.
/// </summary>
public sealed class SourceTableCompleter : CatalogCompleter
{
    private protected override Side Side => Side.Source;

    private protected override IReadOnlyList<string> Fetch(
        DatabaseEndpoint endpoint, ConfitureMigration? migration, IDictionary fakeBoundParameters, string prefix, out string where)
    {
        var schema = BoundString(fakeBoundParameters, "SourceSchema", "Schema") ?? migration?.SourceSchema ?? "public";
        where = $"source table in {schema} on {endpoint}";
        return WithTimeout(token => CatalogBrowser.TablesAsync(endpoint, schema, prefix, token));
    }
}
