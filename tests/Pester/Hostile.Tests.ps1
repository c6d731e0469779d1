<#
    Hostile and bad input, against the real servers. Every name that tries SQL injection must end up
    as a literal name (and the victims table is still there); every bad call ends in an ErrorRecord
    with a stable ErrorId, and leaves both databases exactly as they were: a fingerprint of each
    database (catalog listing of the user objects, foreign servers and their options, user mappings,
    extensions, and a digest of every table's content) is compared before and after each case.
#>

BeforeDiscovery {
    # Names that try to break out of a quoted identifier, a string literal, a comment, a dollar
    # quote or a format string, and names that look like others (Cyrillic, full-width).
    $hostileTableNames = @(
        @{ Name = 'users"; DROP TABLE victims;--'; Display = 'double quote, semicolon, line comment' }
        @{ Name = "o'brien'); DROP TABLE victims; --"; Display = 'single quote and parenthesis' }
        @{ Name = 'a/* x */b -- c'; Display = 'block and line comments' }
        @{ Name = '$$; DROP TABLE victims; $$'; Display = 'dollar quotes' }
        @{ Name = '$q$ ); DROP TABLE victims; $q$'; Display = 'tagged dollar quotes' }
        @{ Name = 'back\slash\\''\"'; Display = 'backslashes before quotes' }
        @{ Name = "us$([char]0x0435)rs"; Display = 'Cyrillic look-alike of users' }
        @{ Name = "users$([char]0xFF02); DROP TABLE victims;$([char]0xFF0D)$([char]0xFF0D)"; Display = 'full-width quote and hyphens' }
        @{ Name = 'Mixed Case; With Spaces'; Display = 'mixed case and spaces' }
        @{ Name = "line`nbreak`t; DROP TABLE victims"; Display = 'newline and tab' }
        @{ Name = 'pct%s%n{0}{1}'; Display = 'format-string placeholders' }
    )
    $tableCases = foreach ($strategy in 'Fdw', 'Copy') {
        foreach ($case in $hostileTableNames) { @{ Name = $case.Name; Display = $case.Display; Strategy = $strategy } }
    }

    $serverCases = @(
        @{ ServerName = 'srv"; DROP TABLE victims;--'; ForeignSchema = 'fs"; DROP SCHEMA public CASCADE;--'; Display = 'quotes and comments' }
        @{ ServerName = "srv'); DROP SERVER x; --"; ForeignSchema = 'fs $$ ; DROP TABLE victims; $$'; Display = 'single quote and dollar quotes' }
        @{ ServerName = "s$([char]0x0435)rver /* c */"; ForeignSchema = "old_sch$([char]0x0435)ma -- x"; Display = 'Cyrillic look-alikes and comments' }
        @{ ServerName = 'srv\'; ForeignSchema = "fs\'"; Display = 'backslashes' }
        @{ ServerName = "srv$([char]0xFF02)$([char]0xFF07)"; ForeignSchema = "$([char]0xFF26)s;"; Display = 'full-width quotes' }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Hostile.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-CallError {
        <# Runs a call and returns the error record it ended with (terminating, or the first one written); fails when it did not fail. #>
        param([Parameter(Mandatory)][scriptblock] $Call)
        # The call runs in this scope's child: with Stop, a per-table (non-terminating) error ends it too, keeping its ErrorId.
        $ErrorActionPreference = 'Stop'
        try {
            $null = & $Call
        }
        catch {
            return $_
        }
        throw 'The call did not fail.'
    }

    $nul = [string][char]0
    $victims = 'SELECT count(*) FROM victims'
}

Describe 'Hostile table names are names, never SQL' -Tag IntegrationTests -ForEach @(@{ HostileTableNames = $hostileTableNames }) {
    BeforeAll {
        $pair = New-TestDatabasePair
        $setupSource = [System.Text.StringBuilder]::new("CREATE TABLE victims (id integer); INSERT INTO victims VALUES (1), (2), (3);`n")
        $setupSource.Append("CREATE TABLE users (id integer PRIMARY KEY, note text); INSERT INTO users VALUES (1, 'the real users');`n") | Out-Null
        $setupTarget = [System.Text.StringBuilder]::new("CREATE TABLE victims (id integer); INSERT INTO victims VALUES (7);`nCREATE TABLE users (id integer PRIMARY KEY, note text);`n")
        foreach ($case in $hostileTableNames) {
            $table = ConvertTo-SqlIdentifier $case.Name
            $literal = ConvertTo-SqlLiteral $case.Name
            $setupSource.Append("CREATE TABLE $table (id integer PRIMARY KEY, note text);`n") | Out-Null
            $setupSource.Append("INSERT INTO $table SELECT g, $literal || ' #' || g FROM generate_series(1, 5) g;`n") | Out-Null
            $setupTarget.Append("CREATE TABLE $table (id integer PRIMARY KEY, note text);`n") | Out-Null
        }
        Invoke-TestSql -Side Source -Database $pair.Database -Sql $setupSource.ToString() | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql $setupTarget.ToString() | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It 'imports a foreign table for each of them under its exact name' {
        foreach ($case in $hostileTableNames) {
            $migration.Tables | Should -Contain $case.Name -Because "the foreign table for $($case.Display) keeps its name"
        }
    }

    It 'migrates the table named with <Display> with <Strategy>, under its exact name' -ForEach $tableCases {
        $before = Get-DatabaseFingerprint -Pair $pair
        $table = ConvertTo-SqlIdentifier $Name

        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable $Name -Strategy $Strategy -Truncate -Force -ErrorAction Stop

        $result.SourceTable | Should -BeExactly $Name
        $result.TargetTable | Should -BeExactly $Name
        $result.RowsMigrated | Should -Be 5
        $query = "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM $table t"
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql $query | Should -Be (Get-TestSqlValue -Side Source -Database $pair.Database -Sql $query)
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT note = $(ConvertTo-SqlLiteral "$Name #1") FROM $table WHERE id = 1" | Should -Be 't' -Because 'the name went in as a value, byte for byte' 
        # Only that table's content may change: victims, users and everything else stay as they were.
        Assert-DatabaseUnchanged -Pair $pair -Before $before -Allow "data $(ConvertTo-FingerprintName 'public' $Name) digest *" -AllowRecord
    }

    It 'ran none of the names as SQL: victims is still there with its rows on both sides' {
        Get-TestSqlValue -Side Source -Database $pair.Database -Sql $victims | Should -Be '3'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql $victims | Should -Be '1'
    }

    It 'never confused the Cyrillic look-alike with users: the target''s users is still empty' {
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM users' | Should -Be '0'
    }

    It 'verifies each of them by its exact name' {
        $verified = @(Test-ConfitureMigration -Migration $migration -Table ($hostileTableNames | ForEach-Object Name) -Checksum -ErrorAction Stop)
        $verified | Should -HaveCount $hostileTableNames.Count
        $verified | Where-Object { -not $_.Match } | ForEach-Object SourceTable | Should -BeNullOrEmpty
    }
}

Describe 'Hostile column names are names, never SQL' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        # Source column -> target column, every one of them hostile.
        $columns = [ordered]@{
            'id'                                  = 'id'
            'a"b'                                 = 'A"B new'
            'x; DROP TABLE victims;--'            = "y'); DROP TABLE victims;--"
            '$$'                                  = '$q$'
            'c/*d*/--'                            = '-- e */'
            "$([char]0x0435)"                     = "$([char]0xFF02)"
            '\'                                   = '\\'''
            '{0}%s'                               = '%n{1}'
        }
        $sourceColumns = ($columns.Keys | ForEach-Object { if ($_ -eq 'id') { 'id integer PRIMARY KEY' } else { "$(ConvertTo-SqlIdentifier $_) text" } }) -join ', '
        $targetColumns = ($columns.Values | ForEach-Object { if ($_ -eq 'id') { 'id integer PRIMARY KEY' } else { "$(ConvertTo-SqlIdentifier $_) text NOT NULL" } }) -join ', '
        $sourceList = ($columns.Keys | ForEach-Object { ConvertTo-SqlIdentifier $_ }) -join ', '
        $targetList = ($columns.Values | ForEach-Object { ConvertTo-SqlIdentifier $_ }) -join ', '
        $values = ($columns.Keys | Where-Object { $_ -ne 'id' } | ForEach-Object { "$(ConvertTo-SqlLiteral $_) || g" }) -join ', '
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
CREATE TABLE victims (id integer); INSERT INTO victims VALUES (1);
CREATE TABLE cols ($sourceColumns);
INSERT INTO cols ($sourceList) SELECT g, $values FROM generate_series(1, 20) g;
"@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @"
CREATE TABLE victims (id integer); INSERT INTO victims VALUES (1);
CREATE TABLE cols ($targetColumns);
CREATE TABLE cols_same ($sourceColumns);
"@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
        $expected = Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT md5(string_agg(row($sourceList)::text, '|' ORDER BY id)) FROM cols"
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It 'maps hostile source columns to hostile target columns with <_>' -ForEach 'Fdw', 'Copy' {
        $before = Get-DatabaseFingerprint -Pair $pair

        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable cols -ColumnMapping $columns -Strategy $_ -Truncate -Force -ErrorAction Stop

        $result.RowsMigrated | Should -Be 20
        @($result.ColumnMapping.Keys) | Should -Be @($columns.Keys)
        @($result.ColumnMapping.Values) | Should -Be @($columns.Values)
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT md5(string_agg(row($targetList)::text, '|' ORDER BY id)) FROM cols" | Should -Be $expected
        Assert-DatabaseUnchanged -Pair $pair -Before $before -Allow 'data "public"."cols" digest *' -AllowRecord
    }

    It 'matches the same hostile column names by name with <_>' -ForEach 'Fdw', 'Copy' {
        $before = Get-DatabaseFingerprint -Pair $pair

        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable cols -TargetTable cols_same -Strategy $_ -Truncate -Force -ErrorAction Stop

        $result.RowsMigrated | Should -Be 20
        @($result.ColumnMapping.Keys) | Sort-Object | Should -Be (@($columns.Keys) | Sort-Object)
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT md5(string_agg(row($sourceList)::text, '|' ORDER BY id)) FROM cols_same" | Should -Be $expected
        Assert-DatabaseUnchanged -Pair $pair -Before $before -Allow 'data "public"."cols_same" digest *' -AllowRecord
    }

    It 'checksums the mapped hostile columns as equal' {
        $verified = Test-ConfitureMigration -Migration $migration -Table cols -ColumnMapping $columns -Checksum -ErrorAction Stop
        $verified.Match | Should -BeTrue
    }

    It 'ran none of the column names as SQL: victims is still there' {
        Get-TestSqlValue -Side Source -Database $pair.Database -Sql $victims | Should -Be '1'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql $victims | Should -Be '1'
    }
}

Describe 'Hostile server, foreign schema, source schema and target schema names' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        $sourceSchema = 'src"; DROP TABLE victims;-- $$'
        $targetSchema = "tgt'); DROP TABLE public.victims; /*"
        $s = ConvertTo-SqlIdentifier $sourceSchema
        $t = ConvertTo-SqlIdentifier $targetSchema
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
CREATE TABLE victims (id integer); INSERT INTO victims VALUES (1);
CREATE SCHEMA $s; CREATE TABLE $s.items (id integer PRIMARY KEY, note text);
INSERT INTO $s.items SELECT g, 'item ' || g FROM generate_series(1, 12) g;
GRANT USAGE ON SCHEMA $s TO $($pair.MigratorUser); GRANT SELECT ON ALL TABLES IN SCHEMA $s TO $($pair.MigratorUser);
"@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @"
CREATE TABLE victims (id integer); INSERT INTO victims VALUES (1);
CREATE SCHEMA $t; CREATE TABLE $t.items (id integer PRIMARY KEY, note text);
"@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $source = Connect-ConfitureDatabase $pair.SourceMigrator
        $target = Connect-ConfitureDatabase $pair.TargetMigrator
        $items = "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM $t.items t"
        $expected = Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM $s.items t"
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'sets up, migrates through and removes server and foreign schema named with <Display>, and leaves only the migrated rows' -ForEach $serverCases {
        $before = Get-DatabaseFingerprint -Pair $pair

        $migration = Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName $ServerName -ForeignSchema $ForeignSchema -SourceSchema $sourceSchema -ErrorAction Stop
        try {
            $state = Get-FdwCatalogState -Pair $pair -ServerName $ServerName -ForeignSchema $ForeignSchema
            $state.NamedServers | Should -Be 1 -Because 'the server has exactly the hostile name'
            $state.ForeignSchemas | Should -Be 1 -Because 'the foreign schema has exactly the hostile name'
            $migration.ServerName | Should -BeExactly $ServerName
            Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql "SELECT count(*) FROM $(ConvertTo-SqlIdentifier $ForeignSchema).items" | Should -Be '12'

            $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable items -TargetSchema $targetSchema -Strategy Fdw -Truncate -Force -ErrorAction Stop
            $result.RowsMigrated | Should -Be 12
            Get-TestSqlValue -Side Target -Database $pair.Database -Sql $items | Should -Be $expected
            (Test-ConfitureMigration -Migration $migration -Table items -TargetSchema $targetSchema -Checksum -ErrorAction Stop).Match | Should -BeTrue
        }
        finally {
            $migration | Remove-ConfitureFdw -ErrorAction Stop
        }

        Assert-DatabaseUnchanged -Pair $pair -Before $before -Allow "data $(ConvertTo-FingerprintName $targetSchema 'items') digest *" -Because 'cleanup removes everything setup made'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql $victims | Should -Be '1'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_namespace WHERE nspname = 'public'" | Should -Be '1'
    }

    It 'copies from the hostile source schema into the hostile target schema' {
        $migration = Enable-ConfitureFdw -Source $source -Target $target @peer -SourceSchema $sourceSchema -ErrorAction Stop
        try {
            $before = Get-DatabaseFingerprint -Pair $pair
            $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable items -TargetSchema $targetSchema -Strategy Copy -Truncate -Force -ErrorAction Stop
            $result.RowsMigrated | Should -Be 12
            Get-TestSqlValue -Side Target -Database $pair.Database -Sql $items | Should -Be $expected
            Assert-DatabaseUnchanged -Pair $pair -Before $before -Allow "data $(ConvertTo-FingerprintName $targetSchema 'items') digest *" -AllowRecord
        }
        finally {
            $migration | Remove-ConfitureFdw -ErrorAction Stop
        }
    }
}

Describe 'Bad input ends in an ErrorRecord and changes nothing' -Tag IntegrationTests {
    BeforeDiscovery {
        # (The calls run later, in the test's scope: $nul, $migration and the rest come from BeforeAll.)
        $cases = @(
            # Column mappings.
            @{ Case = 'a mapped source column that does not exist (Fdw)'; ErrorId = 'Confiture.ColumnNotFound'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping ([ordered]@{ id = 'id'; wrd = 'w' }) -Strategy Fdw } }
            @{ Case = 'a mapped source column that does not exist (Copy)'; ErrorId = 'Confiture.ColumnNotFound'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping ([ordered]@{ id = 'id'; wrd = 'w' }) -Strategy Copy } }
            @{ Case = 'a mapped target column that does not exist'; ErrorId = 'Confiture.ColumnNotFound'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping ([ordered]@{ id = 'id'; w = 'nope' }) } }
            @{ Case = 'two source columns mapped to one target column'; ErrorId = 'Confiture.DuplicateTargetColumn'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable texts -ColumnMapping ([ordered]@{ id = 'id'; w = 'w'; n = 'w' }) } }
            @{ Case = 'a NOT NULL target column left out'; ErrorId = 'Confiture.NotNullColumnUnmapped'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable strict -ColumnMapping ([ordered]@{ id = 'id' }) } }
            @{ Case = 'an empty mapping @{}'; ErrorId = 'Confiture.EmptyColumnMapping'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping @{} } }
            @{ Case = 'an empty ordered mapping'; ErrorId = 'Confiture.EmptyColumnMapping'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping ([ordered]@{}) } }
            @{ Case = 'a mapping to $null'; ErrorId = 'Confiture.InvalidArgument'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping @{ id = $null } } }
            @{ Case = 'a mapping from an empty column name'; ErrorId = 'Confiture.InvalidArgument'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping @{ '' = 'id' } } }
            # Values that cannot be cast: the whole load rolls back, and the rows already there stay.
            @{ Case = 'text ''abc'' into an integer column with Fdw -Truncate'; ErrorId = 'Confiture.ValueDoesNotFit'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable numbers -ColumnMapping @{ id = 'id'; w = 'n' } -Strategy Fdw -Truncate -Force } }
            @{ Case = 'text ''abc'' into an integer column with Copy -Truncate'; ErrorId = 'Confiture.ValueDoesNotFit'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable numbers -ColumnMapping @{ id = 'id'; w = 'n' } -Strategy Copy -Truncate -Force } }
            @{ Case = 'text ''abc'' into an integer column with Fdw -Append'; ErrorId = 'Confiture.ValueDoesNotFit'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable numbers -ColumnMapping @{ id = 'id'; w = 'n' } -Strategy Fdw -Append } }
            @{ Case = 'text ''abc'' into an integer column with Copy -Append'; ErrorId = 'Confiture.ValueDoesNotFit'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable numbers -ColumnMapping @{ id = 'id'; w = 'n' } -Strategy Copy -Append } }
            @{ Case = 'a duplicate key in the source rows with Copy -Append'; ErrorId = 'Confiture.MigrationFailed'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable texts -ColumnMapping @{ id = 'id'; w = 'w' } -Strategy Copy -Append } }
            # Names that are not there.
            @{ Case = 'a source table that does not exist'; ErrorId = 'Confiture.TableNotFound'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable no_such_table } }
            @{ Case = 'a source table named in another case (WORDS)'; ErrorId = 'Confiture.TableNotFound'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable WORDS -Strategy Copy } }
            @{ Case = 'a Cyrillic look-alike of an existing table'; ErrorId = 'Confiture.TableNotFound'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable "w$([char]0x043E)rds" } }
            @{ Case = 'a target table that does not exist'; ErrorId = 'Confiture.TableNotFound'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable no_such_table } }
            @{ Case = 'a target schema that does not exist'; ErrorId = @('Confiture.SchemaNotFound', 'Confiture.TableNotFound'); Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetSchema no_such_schema } }
            @{ Case = 'a source schema that does not exist'; ErrorId = @('Confiture.SchemaNotFound', 'Confiture.TableNotFound'); Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -SourceSchema no_such_schema -Strategy Copy } }
            @{ Case = 'the foreign table itself as the target (it writes back to the source)'; ErrorId = @('Confiture.TableNotFound', 'Confiture.InvalidArgument'); Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetSchema old_schema -Strategy Fdw -Append } }
            @{ Case = '-Truncate with -Append'; ErrorId = 'Confiture.InvalidArgument'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -Truncate -Append -Force } }
            @{ Case = '-ChangedSince without -Sync'; ErrorId = 'Confiture.InvalidArgument'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ChangedSince id } }
            # A NUL character, wherever a string goes.
            @{ Case = 'a NUL in -SourceTable'; ErrorId = 'Confiture.InvalidArgument'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable "wo${nul}rds" } }
            @{ Case = 'a NUL in -TargetTable'; ErrorId = 'Confiture.InvalidArgument'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetTable "wo${nul}rds" } }
            @{ Case = 'a NUL in -TargetSchema'; ErrorId = 'Confiture.InvalidArgument'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -TargetSchema "pub${nul}lic" } }
            @{ Case = 'a NUL in a -ColumnMapping column'; ErrorId = @('Confiture.InvalidArgument', 'Confiture.ColumnNotFound'); Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable words -ColumnMapping @{ id = "i${nul}d"; w = 'w' } } }
            @{ Case = 'a NUL in -ServerName'; ErrorId = 'Confiture.InvalidArgument'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName "srv${nul}x" } }
            @{ Case = 'a NUL in -ForeignSchema'; ErrorId = 'Confiture.InvalidArgument'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName other_server -ForeignSchema "fs${nul}x" } }
            @{ Case = 'a NUL in -SourceSchema'; ErrorId = 'Confiture.InvalidArgument'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName other_server -ForeignSchema other_schema -SourceSchema "pub${nul}lic" } }
            @{ Case = 'a NUL in Enable-ConfitureFdw -Table'; ErrorId = @('Confiture.InvalidArgument', 'Confiture.TableNotFound'); Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName other_server -ForeignSchema other_schema -Table "wo${nul}rds" } }
            @{ Case = 'a NUL in -SourceHostForTarget'; ErrorId = 'Confiture.InvalidArgument'; Call = { Enable-ConfitureFdw -Source $source -Target $target -ServerName other_server -ForeignSchema other_schema -SourceHostForTarget "127.0.0.1${nul}x" } }
            @{ Case = 'a NUL in Get-ConfitureStrategy -Table'; ErrorId = 'Confiture.InvalidArgument'; Call = { Get-ConfitureStrategy -Migration $migration -Table "wo${nul}rds" } }
            @{ Case = 'a NUL in Get-ConfitureStrategy -Schema'; ErrorId = 'Confiture.InvalidArgument'; Call = { Get-ConfitureStrategy -Migration $migration -Schema "pub${nul}lic" } }
            @{ Case = 'a NUL in Test-ConfitureMigration -Table'; ErrorId = 'Confiture.InvalidArgument'; Call = { Test-ConfitureMigration -Migration $migration -Table "wo${nul}rds" } }
            @{ Case = 'a NUL in a keyword connection string'; ErrorId = 'Confiture.InvalidConnectionString'; Call = { Connect-ConfitureDatabase "Host=127.0.0.1;Database=x${nul}y;Username=a;Password=b" } }
            @{ Case = 'a NUL in -Host'; ErrorId = @('Confiture.InvalidArgument', 'Confiture.InvalidConnectionString'); Call = { Connect-ConfitureDatabase -Host "127.0.0.1${nul}" -Database x -Credential $credential } }
            @{ Case = 'a NUL in -Database'; ErrorId = @('Confiture.InvalidArgument', 'Confiture.InvalidConnectionString'); Call = { Connect-ConfitureDatabase -Host $sourceServer.Host -Port $sourceServer.Port -Database "x${nul}y" -Credential $credential } }
            @{ Case = 'a NUL in the -Credential user name'; ErrorId = @('Confiture.InvalidArgument', 'Confiture.InvalidConnectionString'); Call = { Connect-ConfitureDatabase -Host $sourceServer.Host -Port $sourceServer.Port -Database $pair.Database -Credential ([pscredential]::new("a${nul}b", $credential.Password)) } }
            # Connections.
            @{ Case = 'a wrong password'; ErrorId = 'Confiture.AuthenticationFailed'; Call = { Connect-ConfitureDatabase (New-ConnectionString -Server $sourceServer -Database $pair.Database -Username $pair.MigratorUser -Password "$($pair.MigratorPassword)x") } }
            @{ Case = 'a wrong password through -Credential'; ErrorId = 'Confiture.AuthenticationFailed'; Call = { Connect-ConfitureDatabase -Host $sourceServer.Host -Port $sourceServer.Port -Database $pair.Database -Credential ([pscredential]::new($pair.MigratorUser, (ConvertTo-SecureString 'wrong' -AsPlainText -Force))) } }
            @{ Case = 'an unreachable host (a free port)'; ErrorId = 'Confiture.ConnectionFailed'; Call = { Connect-ConfitureDatabase "Host=127.0.0.1;Port=$(Get-FreeTcpPort);Database=postgres;Username=nobody;Password=x;Timeout=5" } }
            @{ Case = 'a database that does not exist'; ErrorId = 'Confiture.DatabaseNotFound'; Call = { Connect-ConfitureDatabase (New-ConnectionString -Server $sourceServer -Database "$($pair.Database)_missing" -Username $pair.MigratorUser -Password $pair.MigratorPassword) } }
            @{ Case = 'a URI whose percent-encoded password is wrong'; ErrorId = 'Confiture.AuthenticationFailed'; Call = { Connect-ConfitureDatabase "postgresql://$($pair.MigratorUser):$([Uri]::EscapeDataString($pair.MigratorPassword + '%'))@$($sourceServer.Host):$($sourceServer.Port)/$($pair.Database)" } }
            @{ Case = 'a URI with a port that is not a number'; ErrorId = 'Confiture.InvalidConnectionString'; Call = { Connect-ConfitureDatabase "postgresql://someone@$($sourceServer.Host):5x/$($pair.Database)" } }
            @{ Case = 'a keyword string without a host'; ErrorId = 'Confiture.InvalidConnectionString'; Call = { Connect-ConfitureDatabase 'Port=5432;Database=postgres' } }
            # Setup that must refuse.
            @{ Case = 'a foreign schema that is a real schema holding a table'; ErrorId = 'Confiture.ForeignSchemaNotEmpty'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName other_server -ForeignSchema occupied } }
            @{ Case = 'public as the foreign schema'; ErrorId = 'Confiture.ForeignSchemaNotEmpty'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName other_server -ForeignSchema public } }
            @{ Case = 'a foreign server Confiture did not create'; ErrorId = 'Confiture.ServerNotOwned'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName not_ours -ForeignSchema other_schema } }
            @{ Case = 'a source the target cannot reach'; ErrorId = 'Confiture.FdwConnectionFailed'; Call = { Enable-ConfitureFdw -Source $source -Target $target -SourceHostForTarget 127.0.0.1 -SourcePortForTarget (Get-FreeTcpPort) -ServerName other_server -ForeignSchema other_schema } }
            @{ Case = 'a source schema that does not exist'; ErrorId = 'Confiture.SchemaNotFound'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName other_server -ForeignSchema other_schema -SourceSchema no_such_schema } }
            @{ Case = 'a -Table that is not on the source'; ErrorId = 'Confiture.TableNotFound'; Call = { Enable-ConfitureFdw -Source $source -Target $target @peer -ServerName other_server -ForeignSchema other_schema -Table words, no_such_table } }
        )
    }

    BeforeAll {
        $pair = New-TestDatabasePair
        $sourceServer = Get-TestServer Source
        $credential = [pscredential]::new($pair.MigratorUser, (ConvertTo-SecureString $pair.MigratorPassword -AsPlainText -Force))
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE words (id integer PRIMARY KEY, w text, n integer);
INSERT INTO words VALUES (1, '1', 1), (2, '2', 2), (3, 'abc', 3), (4, '4', 4);
'@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @'
CREATE TABLE words (id integer PRIMARY KEY, w text);
CREATE TABLE numbers (id integer PRIMARY KEY, n integer);
INSERT INTO numbers VALUES (100, 100), (101, 101);
CREATE TABLE texts (id integer PRIMARY KEY, w text);
INSERT INTO texts VALUES (2, 'already here');
CREATE TABLE strict (id integer PRIMARY KEY, w text NOT NULL);
CREATE SEQUENCE counter START 42;
SELECT nextval('counter');
CREATE SCHEMA occupied; CREATE TABLE occupied.keep (id integer); INSERT INTO occupied.keep VALUES (1);
'@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'CREATE SERVER not_ours FOREIGN DATA WRAPPER postgres_fdw' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $source = Connect-ConfitureDatabase $pair.SourceMigrator
        $target = Connect-ConfitureDatabase $pair.TargetMigrator
        $migration = Enable-ConfitureFdw -Source $source -Target $target @peer
        $baseline = Get-DatabaseFingerprint -Pair $pair
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It 'refuses <Case> with <ErrorId>, and both databases are as they were' -ForEach $cases {
        $record = Get-CallError $Call

        Get-ErrorId $record | Should -BeIn @($ErrorId) -Because "$Case must fail with a stable ErrorId (message: $($record.Exception.Message))"
        $record.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty -Because 'every Confiture error says what to do'
        Assert-DatabaseUnchanged -Pair $pair -Before $baseline
    }

    It 'keeps the rows already in the target when a -Truncate load fails' {
        Get-TestSqlText -Side Target -Database $pair.Database -Sql 'SELECT id, n FROM numbers ORDER BY id' | Should -BeExactly "100|100`n101|101"
    }
}

Describe 'A role without USAGE on postgres_fdw' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair -NoMigratorGrant
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "CREATE EXTENSION postgres_fdw; GRANT CREATE ON DATABASE $($pair.Database) TO $($pair.MigratorUser)" | Out-Null
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE t (id integer); INSERT INTO t VALUES (1)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $source = Connect-ConfitureDatabase $pair.SourceMigrator
        $target = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'is refused with Confiture.FdwUsageDenied, and both databases are as they were' {
        $before = Get-DatabaseFingerprint -Pair $pair

        { Enable-ConfitureFdw -Source $source -Target $target @peer } | Should -Throw -ErrorId 'Confiture.FdwUsageDenied,*'

        Assert-DatabaseUnchanged -Pair $pair -Before $before
    }
}

Describe 'A table that disappears between Get-ConfitureStrategy and Invoke-ConfitureTableMigration' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE stays (id integer PRIMARY KEY); INSERT INTO stays SELECT generate_series(1, 10);
CREATE TABLE gone_fdw (id integer PRIMARY KEY); INSERT INTO gone_fdw SELECT generate_series(1, 10);
CREATE TABLE gone_copy (id integer PRIMARY KEY); INSERT INTO gone_copy SELECT generate_series(1, 10);
'@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE stays (id integer PRIMARY KEY); CREATE TABLE gone_fdw (id integer PRIMARY KEY); CREATE TABLE gone_copy (id integer PRIMARY KEY)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It 'reports a per-table Confiture.TableNotFound naming it with <_>, and still migrates the table after it' -ForEach 'Fdw', 'Copy' {
        $strategy = $_
        $gone = "gone_$($strategy.ToLowerInvariant())"
        $plan = @(Get-ConfitureStrategy -Migration $migration -Table $gone, stays -ErrorAction Stop)
        $plan | Should -HaveCount 2
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "DROP TABLE $gone" | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'TRUNCATE stays' | Out-Null
        $before = Get-DatabaseFingerprint -Pair $pair

        $results = @($plan | Invoke-ConfitureTableMigration -Strategy $strategy -ErrorVariable failures -ErrorAction SilentlyContinue)

        $failures | Should -HaveCount 1
        $failures[0].TargetObject | Should -Be $gone
        $failures[0].Exception.Message | Should -BeLike "*$gone*"
        Get-ErrorId $failures[0] | Should -Be 'Confiture.TableNotFound' -Because "a table gone from the source is not found, whatever the strategy (message: $($failures[0].Exception.Message))"
        $results.SourceTable | Should -Be @('stays')
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM stays' | Should -Be '10'
        Assert-DatabaseUnchanged -Pair $pair -Before $before -Allow 'data "public"."stays" digest *' -AllowRecord
    }
}

Describe 'Null and empty strings for every string parameter' -Tag IntegrationTests {
    BeforeDiscovery {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-Module (Get-ModuleManifestPath) -Force
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        $bindingCases = foreach ($command in Get-Command -Module Confiture -CommandType Cmdlet | Sort-Object Name) {
            foreach ($parameter in $command.Parameters.Values | Where-Object { $_.Name -notin $common } | Sort-Object Name) {
                $type = $parameter.ParameterType
                if ($type -eq [string]) {
                    @{ Command = $command.Name; Parameter = $parameter.Name; Value = $null; Shown = '$null' }
                    @{ Command = $command.Name; Parameter = $parameter.Name; Value = ''; Shown = "''" }
                }
                elseif ($type -eq [string[]]) {
                    @{ Command = $command.Name; Parameter = $parameter.Name; Value = $null; Shown = '$null' }
                    @{ Command = $command.Name; Parameter = $parameter.Name; Value = [string[]]@(); Shown = '@()' }
                    @{ Command = $command.Name; Parameter = $parameter.Name; Value = [string[]]@('stays', ''); Shown = "@('stays', '')" }
                    @{ Command = $command.Name; Parameter = $parameter.Name; Value = [string[]]@('stays', $null); Shown = "@('stays', `$null)" }
                }
                elseif ("$($command.Name) -$($parameter.Name)" -eq 'Invoke-ConfitureTableMigration -ColumnMapping') {
                    # $null is the map's entry for the table, so a per-table mapping needs no conditional splatting.
                }
                elseif ($type -in [System.Collections.IDictionary], [Confiture.PowerShell.Types.ConfitureConnection], [Confiture.PowerShell.Types.ConfitureMigration]) {
                    # A [Credential] parameter given $null prompts for one (by PowerShell's design), so it is left out.
                    @{ Command = $command.Name; Parameter = $parameter.Name; Value = $null; Shown = '$null' }
                }
            }
        }
    }

    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE stays (id integer)' | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE stays (id integer)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $source = Connect-ConfitureDatabase $pair.SourceMigrator
        $target = Connect-ConfitureDatabase $pair.TargetMigrator
        $migration = Enable-ConfitureFdw -Source $source -Target $target @peer
        $credential = [pscredential]::new($pair.MigratorUser, (ConvertTo-SecureString $pair.MigratorPassword -AsPlainText -Force))
        $sourceServer = Get-TestServer Source
        # Valid values for everything else each command needs, so that only the parameter under test is wrong.
        $valid = @{
            'Connect-ConfitureDatabase'      = @{ Host = $sourceServer.Host; Port = $sourceServer.Port; Database = $pair.Database; Credential = $credential }
            'Enable-ConfitureFdw'            = @{ Source = $source; Target = $target; ServerName = 'never_created'; ForeignSchema = 'never_created' }
            'Get-ConfitureStrategy'          = @{ Migration = $migration }
            'Invoke-ConfitureTableMigration' = @{ Migration = $migration; SourceTable = 'stays' }
            'Test-ConfitureMigration'        = @{ Migration = $migration; Table = 'stays' }
            'Remove-ConfitureFdw'            = @{ Migration = $migration }
            'Test-ConfitureCutover'          = @{ Migration = $migration }
            'Sync-ConfitureMigration'        = @{ Migration = $migration }
            'Get-ConfitureMigration'         = @{ Target = $target; Source = $source }
            'Export-ConfitureReport'         = @{ Path = (Join-Path ([IO.Path]::GetTempPath()) "never-written-$([guid]::NewGuid().ToString('N')).html"); InputObject = [pscustomobject]@{ Name = 'stays' } }
        }
        $baseline = Get-DatabaseFingerprint -Pair $pair
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It '<Command> -<Parameter> <Shown> is a parameter binding error' -ForEach $bindingCases {
        $arguments = $valid[$Command].Clone()
        if ($Parameter -eq 'ConnectionString') { $arguments = @{} }
        $arguments[$Parameter] = $Value

        $record = $null
        try { $null = & $Command @arguments -ErrorAction Stop } catch { $record = $_ }

        $record | Should -Not -BeNullOrEmpty -Because "-$Parameter $Shown must be refused"
        $record.FullyQualifiedErrorId | Should -BeLike 'ParameterArgumentValidationError*' -Because "PowerShell refuses it before the cmdlet runs (got: $($record.FullyQualifiedErrorId): $($record.Exception.Message))"
        $record.Exception | Should -BeOfType ([System.Management.Automation.ParameterBindingException])
    }

    It 'left both databases as they were after all of them' {
        Assert-DatabaseUnchanged -Pair $pair -Before $baseline
    }
}
