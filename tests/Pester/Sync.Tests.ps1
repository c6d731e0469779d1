BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    $rename = [ordered]@{ id = 'id'; full_name = 'display_name'; email = 'email' }
}

Describe 'Invoke-ConfitureTableMigration -Sync parameters' -Tag UnitTests {
    It 'binds a result''s target table, target schema and mapping by property name' {
        $parameters = (Get-Command Invoke-ConfitureTableMigration).Parameters
        foreach ($name in 'TargetTable', 'TargetSchema', 'ColumnMapping') {
            $parameters[$name].Attributes.Where({ $_ -is [Parameter] }).ValueFromPipelineByPropertyName | Should -Contain $true -Because "-$name binds by property name"
        }
        $result = [Confiture.PowerShell.Types.ConfitureTableMigrationResult]
        foreach ($name in 'TargetTable', 'TargetSchema', 'ColumnMapping') {
            $result.GetProperty($name) | Should -Not -BeNullOrEmpty -Because "a result carries $name"
        }
    }
}

Describe 'A piped result into Invoke-ConfitureTableMigration -Sync' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE users (id integer PRIMARY KEY, full_name text NOT NULL, email text);
INSERT INTO users SELECT g, 'User ' || g, 'user' || g || '@example.com' FROM generate_series(1, 2000) g;
'@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @'
CREATE SCHEMA app;
CREATE TABLE app.members (id integer PRIMARY KEY, display_name text NOT NULL, email text);
CREATE TABLE app.posts (id integer PRIMARY KEY, member_id integer NOT NULL REFERENCES app.members ON DELETE CASCADE, title text);
'@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer -Confirm:$false
        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -TargetSchema app -TargetTable members -ColumnMapping $rename -Strategy Copy -Confirm:$false
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql "INSERT INTO app.posts SELECT g, 3, 'Post ' || g FROM generate_series(1, 4) g" | Out-Null
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false }
        Remove-TestDatabasePair $pair
    }

    It 'syncs the same target table with the same renames, in place' {
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "UPDATE users SET full_name = 'Renamed' WHERE id = 3; DELETE FROM users WHERE id = 1999; INSERT INTO users VALUES (5000, 'New', NULL)" | Out-Null

        $sync = $result | Invoke-ConfitureTableMigration -Sync -Confirm:$false -ErrorAction Stop

        $sync.Mode | Should -Be 'Sync'
        $sync.TargetSchema | Should -Be 'app'
        $sync.TargetTable | Should -Be 'members'
        $sync.RowsUpdated | Should -Be 1
        $sync.RowsInserted | Should -Be 1
        $sync.RowsDeleted | Should -Be 1
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT display_name FROM app.members WHERE id = 3' | Should -BeExactly 'Renamed'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM app.posts WHERE member_id = 3' | Should -Be 4 -Because 'an update in place cascades nothing'
        ($sync | Test-ConfitureMigration -Checksum).Match | Should -BeTrue
    }

    It 'syncs a piped result by change column too, and then finds nothing to change' {
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "UPDATE users SET full_name = 'Again', email = NULL WHERE id = 4" | Out-Null

        $first = $result | Invoke-ConfitureTableMigration -Sync -ChangedSince email -Confirm:$false -ErrorAction Stop
        $second = $result | Invoke-ConfitureTableMigration -Sync -ChangedSince email -Confirm:$false -ErrorAction Stop

        $first.RowsUpdated | Should -Be 1
        $second.RowsMigrated | Should -Be 0
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT display_name FROM app.members WHERE id = 4' | Should -BeExactly 'Again'
    }
}
